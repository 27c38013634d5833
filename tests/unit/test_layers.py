"""The package layout is the architecture: imports point downward, the core never loads Locust or gevent,
the simulator stands alone, and no module is over 400 lines (DESIGN.md "Layout").

Layers, lowest first (a module may import its own layer and any LOWER tier; nothing in a higher tier, and
nothing in a sibling of its tier):

    errors  <-  core  <-  protocol  <-  settings  <-  transport  <-  client  <-  {workload, sinks}
            <-  {locust (with locustfiles), studies}  <-  report  <-  cli

DESIGN.md writes this as "core <- protocol <- transport/client <- workload, sinks <- locust, studies <- report
<- cli"; "transport/client" is read as two tiers (the client wraps a transport, a transport never knows the
client), and "workload, sinks" / "locust, studies" as siblings that do not import each other. DESIGN.md gives
settings.py no tier: it sits where its users need it (sinks, workload, locust, client/preflight take a
Settings) and it imports only errors today. errors.py is the bottom (every layer raises its exceptions).

Every import statement counts, at module level or inside a function: a lazy import is still a dependency.
loadkit/__init__.py (PEP 562 re-exports) and loadkit/_aliases.py (old module paths) are exempt.

Simulator: loadkit.simulator.* imports nothing from loadkit outside loadkit.simulator, and only loadkit.cli
(which embeds one for ``--simulate``-style commands) imports it.

Locust and gevent (the libraries ``locust``, ``gevent``, ``geventhttpclient``): only loadkit/locust/,
loadkit/locustfiles/ and loadkit/transport/gevent_http.py import them. loadkit.transport.gevent_http itself is
imported only inside a function (the transport factory picks it on demand), so in a fresh interpreter importing
any other loadkit module leaves all three libraries out of ``sys.modules`` (checked for real, in a subprocess).

Today's violations are in an explicit allow-list below; each entry names its owner and issue. The list only
shrinks: a new violation fails, an entry grown past its limit fails, and an entry that no longer occurs fails
until it is deleted here.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "loadkit"
MAX_MODULE_LINES = 400

TIERS = [
    {"errors"},
    {"core"},
    # report renders a RunSummary and computes nothing (DESIGN.md): it needs only core, so it sits just above
    # it and every layer that shows a number (locust's finish and web UI, studies, cli) may use it
    {"report"},
    {"protocol"},
    {"settings"},
    {"transport"},
    {"client"},
    {"workload", "sinks"},
    {"locust", "locustfiles", "studies"},
    {"cli"},
]
# locustfiles is the locust layer's user-facing part, not a sibling of it
SAME_LAYER = {"locustfiles": "locust"}
TIER_OF = {layer: i for i, tier in enumerate(TIERS) for layer in tier}
EXEMPT = {"loadkit", "loadkit._aliases"}
SIMULATOR = "simulator"
SIMULATOR_USERS = {"cli"}
EVENT_LOOP_LIBS = {"locust", "gevent", "geventhttpclient"}
EVENT_LOOP_ALLOWED = ("loadkit.locust", "loadkit.locustfiles", "loadkit.transport.gevent_http")
GEVENT_TRANSPORT = "loadkit.transport.gevent_http"

# (importing module, imported module) -> owner.  Delete an entry when its import is gone.
ALLOWED_LAYER_VIOLATIONS: dict[tuple[str, str], str] = {
}

# path -> (most lines it may have until it is split, owner).  Lower the limit as it shrinks.
ALLOWED_LONG_MODULES = {
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.lru_cache(maxsize=1)
def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lazy.update(id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base)
                targets = [f"{stem}.{node.module}" if node.module else stem]
            else:
                targets = [node.module]
            # ``from loadkit.core import stats`` names the submodule: resolve to it when it is one
            modules = package_modules()
            targets = [
                f"{targets[0]}.{alias.name}" if f"{targets[0]}.{alias.name}" in modules else targets[0]
                for alias in node.names
            ]
        else:
            continue
        found.extend((t, node.lineno, id(node) in lazy) for t in dict.fromkeys(targets))
    return found


def layer(module: str) -> str:
    name = module.split(".")[1] if module.count(".") >= 1 else ""
    return SAME_LAYER.get(name, name)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def layer_violations() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> ["file:line", ...] for every import that breaks the layer or simulator rules."""
    out: dict[tuple[str, str], list[str]] = {}
    for me, path in package_modules().items():
        if me in EXEMPT:
            continue
        mine = layer(me)
        for target, line, _lazy in imports_of(path):
            if not target.startswith("loadkit.") and target != "loadkit":
                continue
            theirs = layer(target)
            if target in EXEMPT:
                problem = True  # import from the module that defines the name, not the package facade
            elif mine == SIMULATOR or theirs == SIMULATOR:
                problem = mine != theirs and not (theirs == SIMULATOR and mine in SIMULATOR_USERS)
            elif mine == theirs:
                problem = False
            else:
                problem = TIER_OF[theirs] >= TIER_OF[mine]
            if problem:
                out.setdefault((me, target), []).append(f"{rel(path)}:{line}")
    return out


def test_every_package_has_a_tier():
    layers = {layer(m) for m in package_modules() if m not in EXEMPT} - {SIMULATOR}
    assert layers - set(TIER_OF) == set(), "a new top-level module or package: give it a tier in TIERS"


def test_imports_point_downward_and_the_simulator_stands_alone():
    found = layer_violations()
    new = {k: v for k, v in found.items() if k not in ALLOWED_LAYER_VIOLATIONS}
    assert not new, "imports against the layers (DESIGN.md Layout; tiers in this file's docstring):\n" + "\n".join(
        f"  {', '.join(where)}: {a} imports {b} ({layer(a)} may not import {layer(b)})" for (a, b), where in new.items()
    )


def test_allowed_layer_violations_still_exist():
    stale = set(ALLOWED_LAYER_VIOLATIONS) - set(layer_violations())
    assert not stale, "fixed, delete from ALLOWED_LAYER_VIOLATIONS in tests/unit/test_layers.py: " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(stale)
    )


def test_only_the_locust_layer_and_the_gevent_transport_import_locust_or_gevent():
    bad = []
    for me, path in package_modules().items():
        for target, line, lazy in imports_of(path):
            allowed = me.startswith(EVENT_LOOP_ALLOWED)
            if target.split(".")[0] in EVENT_LOOP_LIBS and not allowed:
                bad.append(f"{rel(path)}:{line}: {me} imports {target}")
            if target == GEVENT_TRANSPORT and not allowed and not lazy:
                bad.append(f"{rel(path)}:{line}: {me} imports {target} at module level (import it in the function)")
    assert not bad, "Locust/gevent outside loadkit/locust/ and the gevent transport:\n" + "\n".join(bad)


def test_importing_any_core_module_loads_neither_locust_nor_gevent():
    """For real: each module outside the locust layer and the gevent transport, imported in a fresh interpreter."""
    core = [m for m in package_modules() if not m.startswith(EVENT_LOOP_ALLOWED) and not m.endswith("__main__")]
    probe = (
        "import importlib, json, sys\n"
        f"libs = {sorted(EVENT_LOOP_LIBS)!r}\n"
        "out = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    loaded = [m for m in set(sys.modules) - before if m.split('.')[0] in libs]\n"
        "    if loaded:\n"
        "        out[name] = sorted(loaded)[:3]\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", probe, json.dumps(core)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout)
    # The first module to pull a library in is the culprit; later ones find it already loaded.
    assert loaded == {}, f"importing these loaded Locust/gevent (first culprit first): {loaded}"


def test_no_module_is_over_400_lines():
    counts = {rel(p): len(p.read_text().splitlines()) for p in package_modules().values()}
    over = {
        path: n for path, n in counts.items()
        if n > ALLOWED_LONG_MODULES.get(path, (MAX_MODULE_LINES, ""))[0]
    }
    assert not over, f"modules over {MAX_MODULE_LINES} lines (or past their allow-list limit): " + ", ".join(
        f"{path} {n} lines" + (f" (allowed {ALLOWED_LONG_MODULES[path][0]}: {ALLOWED_LONG_MODULES[path][1]})"
                               if path in ALLOWED_LONG_MODULES else "")
        for path, n in sorted(over.items())
    )


def test_allowed_long_modules_are_still_long():
    counts = {rel(p): len(p.read_text().splitlines()) for p in package_modules().values()}
    done = [path for path in ALLOWED_LONG_MODULES if counts.get(path, 0) <= MAX_MODULE_LINES]
    assert not done, f"now {MAX_MODULE_LINES} lines or fewer, delete from ALLOWED_LONG_MODULES: {', '.join(done)}"
