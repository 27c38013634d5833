"""The SLOs of a run from its settings: ``--slo`` (a file, or an inline check) then every ``--slo-check``.

``--slo`` names a TOML file; when no such file exists and the value reads like a
check (``'ttft_ms.p95 < 1000'``, ';'-separated for several) it is taken as
inline checks, so ``--slo 'ttft_ms.p95 < 1000'`` does what it says instead of
"cannot read SLO file". Every ``--slo-check`` counts (a CI gate that silently
kept only the last one would pass an impossible objective).
"""

from __future__ import annotations

from pathlib import Path

from loadkit.core.slo import OPERATORS, SLO, load_slos, parse_slo_flag
from loadkit.errors import SLOError

__all__ = ["collect_slos", "slos_from_text"]

_OPERATOR_CHARS = frozenset("".join(OPERATORS))


def slos_from_text(text: str) -> list[SLO]:
    """SLOs from an ``--slo`` value: the file's, or inline ``[model:]metric op value`` checks."""
    path = Path(text)
    if path.is_file():
        return list(load_slos(path))
    if _OPERATOR_CHARS & set(text):
        return [parse_slo_flag(part) for part in text.split(";") if part.strip()]
    example = "examples/slo.toml" if Path("examples/slo.toml").is_file() else "slo.toml"
    raise SLOError(f"--slo {text}: no such SLO file; give a TOML file (e.g. {example}) "
                   "or an inline check like 'ttft_ms.p95 < 1000'")


def collect_slos(settings) -> list[SLO]:
    """The run's SLOs, file/inline first then each --slo-check; raises SLOError before any load."""
    slos = slos_from_text(settings.slo) if settings.slo else []
    slos += [parse_slo_flag(text) for text in settings.slo_check]
    return slos
