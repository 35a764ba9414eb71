"""benchmarks/report.py reads each script's RESULT line and rewrites only the README's marked performance section."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPORT_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("benchmark_report", REPORT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_the_last_result_line_wins(report) -> None:
    output = "warming up\nRESULT early ratio=9\nfigures...\nRESULT ingest_http ratio=0.62 events_per_s=8100 baseline=13000\n"
    assert report.parse_result(output) == ("ingest_http", {"ratio": "0.62", "events_per_s": "8100", "baseline": "13000"})


def test_output_without_a_result_line_is_a_failure(report) -> None:
    assert report.parse_result("Traceback (most recent call last):\n  boom\n") is None


def test_render_lists_failures_beside_results(report) -> None:
    ok = report.BenchmarkRun("a.py", 0, 12.0, "a", {"ratio": "0.9", "runs_per_s": "40"})
    failed = report.BenchmarkRun("b.py", 1, 3.0, tail="ValueError: bad size")
    text = report.render([ok, failed], quick=True)
    assert "| a | 0.9 | runs_per_s=40 | `a.py` | 12 s |" in text
    assert "| (failed, exit 1) | - | ValueError: bad size | `b.py` | 3 s |" in text
    assert "(quick sizes)" in text


def test_readme_section_between_markers_is_replaced(report, tmp_path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Performance\n\n{report.BEGIN_MARKER}\nold\n{report.END_MARKER}\n\n## Next\nkept\n")
    monkeypatch.setattr(report, "README", readme)
    assert report.replace_readme_section("new table\n")
    assert readme.read_text() == f"# x\n\n## Performance\n\n{report.BEGIN_MARKER}\nnew table\n{report.END_MARKER}\n\n## Next\nkept\n"
