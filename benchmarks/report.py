"""Runs every benchmark script in benchmarks/ and writes one Markdown report (figures, ratios, machine); `make bench`.

Each script prints figures and ends with `RESULT <name> ratio=<x> <figure>=<value> ...` (ratio = ours / baseline).
The report goes to benchmarks/REPORT.md and replaces the README's performance section between its two markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
BEGIN_MARKER = "<!-- benchmark report: begin -->"
END_MARKER = "<!-- benchmark report: end -->"
RESULT_LINE = re.compile(r"^RESULT (?P<name>\S+) (?P<pairs>.*)$")


@dataclass
class BenchmarkRun:
    script: str
    exit_code: int
    seconds: float
    name: str = ""
    figures: dict[str, str] = field(default_factory=dict)
    tail: str = ""


def parse_result(output: str) -> tuple[str, dict[str, str]] | None:
    """The last RESULT line of a script's output as (name, {figure: value}), or None when it printed none."""
    for line in reversed(output.splitlines()):
        match = RESULT_LINE.match(line.strip())
        if match:
            pairs = dict(pair.split("=", 1) for pair in match["pairs"].split() if "=" in pair)
            return match["name"], pairs
    return None


def benchmark_scripts() -> list[Path]:
    return sorted(path for path in HERE.glob("*.py") if path.name != Path(__file__).name and not path.name.startswith("_"))


def run_one(script: Path, quick: bool, timeout: float) -> BenchmarkRun:
    command = [sys.executable, str(script)] + (["--quick"] if quick else [])
    started = time.monotonic()
    try:
        completed = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        stdout, output, code = completed.stdout, completed.stdout + completed.stderr, completed.returncode
    except subprocess.TimeoutExpired:
        stdout, output, code = "", f"timed out after {timeout:.0f} s", -1
    run = BenchmarkRun(script.name, code, time.monotonic() - started, tail="\n".join(output.strip().splitlines()[-5:]))
    parsed = parse_result(stdout) if code == 0 else None
    if parsed:
        run.name, run.figures = parsed
    return run


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def render(runs: list[BenchmarkRun], quick: bool) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {machine_description()}{' (quick sizes)' if quick else ''}; `make bench` regenerates this.",
        "",
        "| benchmark | ratio (ours / baseline) | figures | script | took |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        if run.name:
            figures = ", ".join(f"{key}={value}" for key, value in run.figures.items() if key != "ratio")
            lines.append(f"| {run.name} | {run.figures.get('ratio', '?')} | {figures} | `{run.script}` | {run.seconds:.0f} s |")
        else:
            lines.append(f"| (failed, exit {run.exit_code}) | - | {run.tail.splitlines()[-1] if run.tail else ''} | `{run.script}` | {run.seconds:.0f} s |")
    return "\n".join(lines) + "\n"


def replace_readme_section(report: str) -> bool:
    text = README.read_text()
    if BEGIN_MARKER not in text or END_MARKER not in text:
        return False
    head, rest = text.split(BEGIN_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    README.write_text(f"{head}{BEGIN_MARKER}\n{report}{END_MARKER}{tail}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run every script with --quick (each under a minute)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one script may take")
    parser.add_argument("--no-readme", action="store_true", help="write benchmarks/REPORT.md only")
    args = parser.parse_args()
    runs = []
    for script in benchmark_scripts():
        print(f"running {script.name} ...", flush=True)
        run = run_one(script, args.quick, args.timeout)
        print(f"  {run.name or 'FAILED'} {run.figures} ({run.seconds:.0f} s)", flush=True)
        runs.append(run)
    report = render(runs, args.quick)
    (HERE / "REPORT.md").write_text("# cxflow benchmark report\n\n" + report)
    if not args.no_readme and replace_readme_section(report):
        print("README performance section updated")
    print(report)
    return 0 if all(run.name for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
