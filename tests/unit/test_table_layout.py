"""The terminal table fits a 100-column terminal without cutting a model name, and keeps every number."""

import io

from rich.console import Console

from loadkit.report.table import print_summary
from loadkit.core.records import RequestRecord
from loadkit.core.stats import RunStats
from loadkit.core.summary import build_summary


def tiny_summary():
    stats = RunStats()
    for i in range(40):
        model = ("claude-4-haiku", "gpt-4o-mini")[i % 2]
        sent = float(i)
        stats.add(RequestRecord(model=model, sent_at=sent, headers_at=sent + 0.1, first_event_at=sent + 0.2,
                                first_token_at=sent + 0.2, token_times=[sent + 0.2, sent + 0.25, sent + 0.3],
                                done_at=sent + 0.8, status=200, input_tokens=20, output_tokens=3,
                                usage_reported=True))
    return build_summary(stats, run_id="r1", started_at="2026-12-01T00:00:00+00:00", duration_s=40.0,
                         host="http://127.0.0.1:1/v1", users=2)


def _render(summary, width):
    buf = io.StringIO()
    print_summary(summary, Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


def test_a_100_column_terminal_gets_two_tables_with_whole_model_names_and_no_wrapped_cells():
    summary = tiny_summary()
    text = _render(summary, 100)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    for model in summary["models"]:
        rows = [line for line in lines if model in line]
        assert len(rows) == 2, rows  # one row in the latency table, one in the volume table: never wrapped or cut
    wide = _render(summary, 170)
    assert sum(1 for line in wide.splitlines() if "claude-4-haiku" in line) == 1
    # the same numbers in both layouts
    for token in ("e2e p50/p95/p99 ms", "out tok/s", "cost"):
        assert token in text and token in wide


def test_columns_in_the_environment_sets_the_width_of_a_piped_table(monkeypatch, capsys):
    # `COLUMNS=100 loadkit run ... | tee log`: not a terminal, but the reader's width is known
    monkeypatch.setenv("COLUMNS", "100")
    print_summary(tiny_summary())
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert sum(1 for line in lines if "claude-4-haiku" in line) == 2  # the narrow layout, names whole
