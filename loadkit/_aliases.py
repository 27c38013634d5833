"""Old module paths keep working: users' locustfiles copied from earlier releases import them.

``loadkit.config`` is now ``loadkit.settings``, ``loadkit.shaping`` is
``loadkit.workload``, and so on (the layout section of the README). A finder
maps each old dotted name to the module at its new home, so both names are
one module object (no second copy of module state).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# old name (under loadkit.) -> new name; a prefix maps its submodules too.
OLD_TO_NEW = {
    "config": "settings",
    "records": "core.records",
    "metrics": "core.metrics",
    "stats": "core.stats",
    "pricing": "core.pricing",
    "coldview": "core.coldview",
    "report.summary": "core.summary",
    "report.slo": "core.slo",
    "report.commands": "cli.report",
    "sse": "protocol.sse",
    "ratelimit": "client.retry",
    "transports": "transport",
    "preflight": "client.preflight",
    "discovery": "client.discovery",
    "shaping": "workload",
    "arrivals": "workload.arrivals",
    "tasks": "workload.tasks",
    "capacity": "studies.capacity",
    "ramp": "studies.ramp",
    "coldstart": "studies.coldstart",
    "overhead": "studies.overhead",
    "capacity_cli": "cli.capacity",
    "coldstart_cli": "cli.coldstart",
    "studies.bootstrap": "core.bootstrap",  # pure statistics: compare (report) uses it too
}


def new_name(fullname: str) -> str | None:
    """The current module name for an old ``loadkit.…`` name, or None when it is not an old name."""
    if not fullname.startswith("loadkit."):
        return None
    rest = fullname[len("loadkit."):]
    for old in sorted(OLD_TO_NEW, key=len, reverse=True):
        if rest == old or rest.startswith(old + "."):
            return "loadkit." + OLD_TO_NEW[old] + rest[len(old):]
    return None


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module(new_name(spec.name))

    def exec_module(self, module) -> None:
        pass  # already executed under its new name


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
