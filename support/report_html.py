"""One self-contained HTML report of a run: ``python -m support.report_html [--reports DIR] [--out FILE]``.

It reads what the run left in the reports folder (``support.report_sources`` lists the files) and writes
``reports/index.html``: the matrix of cells, each tier's pass / fail / skip counts with the skip
reasons, reruns and failures (linked to their folders), flake rates, resilience counts and recovery
times, bench tables, and plots drawn with matplotlib inlined as SVG. No CSS, script or image comes from
elsewhere: the file opens offline, as a CI artifact. A missing source is said so in its section; a file
that cannot be read is named at the top, and the rest of the report is still written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from support import report_plots
from support.flake_report import FAILED, PASSED, SKIPPED
from support.report_sources import ROOT, Bench, FlakeRun, Scenario, Sources, TierRun, collect

REPORTS = ROOT / "reports"
INDEX = "index.html"
CHECKER_COLUMNS = ("ok", "failed", "cancelled", "lost", "stuck", "duplicated", "unexpected", "disagreements")
BAD_CHECKER = {"lost", "stuck", "duplicated", "unexpected", "disagreements"}
BENCH_COLUMNS = ("metric", "unit", "runs", "median", "p95", "min", "max", "target", "verdict", "note")

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#17692d}.failed{color:#b3261e;font-weight:bold}.skipped{color:#8a6d00}.none{color:#777;font-style:italic}
.problems{background:#fdecea;border:1px solid #b3261e;padding:.6em 1em}code,pre{font:12px ui-monospace,monospace}
pre{white-space:pre-wrap;margin:0}details{margin:.4em 0}summary{cursor:pointer}svg{max-width:100%;height:auto}
"""


def _cell(value: object, css: str = "") -> str:
    if isinstance(value, float):
        text = f"{value:.3f}" if value < 100 else f"{value:.1f}"
    else:
        text = "-" if value is None or value == "" else str(value)
    classes = " ".join(c for c in (css, "num" if isinstance(value, int | float) else "") if c)
    return f"<td class='{classes}'>{escape(text)}</td>" if classes else f"<td>{escape(text)}</td>"


def _table(headers: Sequence[str], rows: Iterable[str], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _none(text: str) -> str:
    return f"<p class='none'>{escape(text)}</p>"


def _plot(svg: str | None) -> str:
    if svg is None:
        return "" if report_plots.available() else _none(report_plots.MISSING)
    return f"<figure>{svg}</figure>"


def _link(href: str, text: str) -> str:
    return f"<a href='{escape(href, quote=True)}'>{escape(text)}</a>"


def matrix_section(sources: Sources) -> str:
    if sources.matrix is None:
        return _none("no matrix run in this report (reports/matrix.json is written by python -m support.ci_matrix run)")
    rows = []
    for cell in sources.matrix.cells:
        verdict = "passed" if cell.exit_code == 0 else f"FAILED (exit {cell.exit_code})"
        css = "passed" if cell.exit_code == 0 else "failed"
        cells = f"{_cell(cell.name)}{_cell(verdict, css)}{_cell(round(cell.seconds, 1))}"
        rows.append(f"<tr class='cell' data-cell='{escape(cell.name)}'>{cells}</tr>")
    failed = [cell.name for cell in sources.matrix.cells if cell.exit_code != 0]
    summary = f"{len(sources.matrix.cells) - len(failed)} of {len(sources.matrix.cells)} passed" + (
        f"; failed: {', '.join(failed)}" if failed else ""
    )
    return _table(("cell", "result", "seconds"), rows, "matrix") + f"<p>{escape(summary)}</p>"


def _tier_details(tier: TierRun, base: str) -> str:
    parts = []
    if tier.failures:
        items = []
        for result in tier.failures:
            folder = tier.folders.get(result.test)
            link = f" ({_link(base + folder, 'failure folder')})" if folder else ""
            items.append(f"<li><code>{escape(result.test)}</code>{link}<pre>{escape(result.message)}</pre></li>")
        parts.append(f"<h4>failures</h4><ul class='failures'>{''.join(items)}</ul>")
    if tier.reruns:
        items = [f"<li><code>{escape(test)}</code>: {escape(rerun)}</li>" for test, rerun in tier.reruns]
        parts.append(f"<h4>reruns</h4><ul class='reruns'>{''.join(items)}</ul>")
    reasons = tier.skip_reasons
    if reasons:
        items = [f"<li>{count}× <pre>{escape(reason)}</pre></li>" for reason, count in reasons.most_common()]
        parts.append(f"<h4>skip reasons</h4><ul class='skips'>{''.join(items)}</ul>")
    if not parts:
        return ""
    return f"<details open><summary>{escape(tier.name)}</summary>{''.join(parts)}</details>"


def tiers_section(sources: Sources) -> str:
    if not sources.tiers:
        return _none("no tier ran in this report (no reports/junit-*.xml)")
    rows = []
    for tier in sources.tiers:
        failed_css = "failed" if tier.failures else ""
        verdict_css = "failed" if tier.failures else ("passed" if tier.count(PASSED) else "skipped")
        verdict = tier.verdict
        if sources.matrix is not None and tier.earlier_than(sources.matrix.started):
            verdict += " (file from an earlier run)"
        rows.append(
            f"<tr class='tier' data-tier='{escape(tier.name)}'>{_cell(tier.name)}{_cell(verdict, verdict_css)}"
            f"{_cell(len(tier.results))}{_cell(tier.count(PASSED), 'passed')}{_cell(tier.count(FAILED), failed_css)}"
            f"{_cell(tier.count(SKIPPED), 'skipped')}{_cell(len(tier.reruns))}{_cell(round(tier.seconds, 1))}"
            f"{_cell(tier.timestamp)}{_cell(tier.path.name)}</tr>"
        )
    headers = ("tier", "verdict", "tests", "passed", "failed", "skipped", "reruns", "test seconds", "started", "file")
    return _table(headers, rows, "tiers") + "".join(_tier_details(tier, sources.link_base) for tier in sources.tiers)


def _flake_table(flake: FlakeRun) -> str:
    shown = [t for t in flake.tests if float(t["flake_rate"]) > 0 or int(t.get("reruns", 0)) or t.get("quarantined")]
    verdict = "gate passed" if flake.gate_passed else "GATE FAILED"
    head = (
        f"<h3>{escape(flake.tier)}: {flake.count} runs, {len(flake.tests)} tests, threshold {flake.threshold:g}, "
        f"<span class='{'passed' if flake.gate_passed else 'failed'}'>{verdict}</span></h3>"
    )
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in flake.problems)
    head += f"<ul class='failed'>{problems}</ul>" if problems else ""
    if not shown:
        return head + _none(f"no test failed or was rerun in {flake.count} runs (flake rate 0 for every test)")
    rows = []
    for test in shown:
        rate = f"{float(test['flake_rate']):.0%}"
        messages = "; ".join(f"{m['count']}× {m['message']}" for m in test.get("failure_messages", []))
        name = str(test["test"]) + (" (quarantined)" if test.get("quarantined") else "")
        rows.append(
            f"<tr>{_cell(name)}{_cell(test.get('runs'))}{_cell(test.get('failures'))}{_cell(test.get('reruns'))}"
            f"{_cell(rate, 'failed')}{_cell(test.get('median_s'))}"
            f"{_cell(test.get('worst_s'))}{_cell(messages)}</tr>"
        )
    headers = ("test", "runs", "failures", "reruns", "flake rate", "median s", "worst s", "failure messages")
    return head + _table(headers, rows, "flake")


def flake_section(sources: Sources) -> str:
    if not sources.flakes:
        return _none("no flake runs in this report (reports/flake-<tier>.json is written by nox -s flake -- TIER)")
    return "".join(_flake_table(flake) for flake in sources.flakes)


def _recovery_plot(scenarios: list[Scenario]) -> str | None:
    timed = [s for s in scenarios if s.recovery]
    keys = list(dict.fromkeys(key for s in timed for key in s.recovery))
    series = {key: [s.recovery.get(key) for s in timed] for key in keys}
    return report_plots.bar_chart("recovery times per scenario", [s.name for s in timed], series, "seconds")


def resilience_section(sources: Sources) -> str:
    if not sources.scenarios:
        return _none(
            "no resilience scenarios in this report (reports/resilience/*.json is written by nox -s resilience)"
        )
    rows = []
    for s in sources.scenarios:
        clean = {True: ("clean", "passed"), False: ("NOT CLEAN", "failed"), None: ("not counted", "skipped")}[s.clean]
        counts = "".join(
            _cell(s.counts.get(c), "failed" if c in BAD_CHECKER and s.counts.get(c) else "") for c in CHECKER_COLUMNS
        )
        recovery = ", ".join(f"{k.removesuffix('_seconds')} {v:.2f} s" for k, v in s.recovery.items())
        rows.append(f"<tr class='scenario'>{_cell(s.name)}{_cell(clean[0], clean[1])}{counts}{_cell(recovery)}</tr>")
    table = _table(("scenario", "checker", *CHECKER_COLUMNS, "recovery"), rows, "resilience")
    return table + _plot(_recovery_plot(sources.scenarios))


def _bench_plot(bench: Bench) -> str:
    plots = []
    units = dict.fromkeys(str(row.get("unit", "s")) for row in bench.rows)
    for unit in units:
        rows = [r for r in bench.rows if str(r.get("unit", "s")) == unit and isinstance(r.get("median"), int | float)]
        if not rows:
            continue
        series: dict[str, list[float | None]] = {"median": [float(r["median"]) for r in rows]}
        if any(isinstance(r.get("p95"), int | float) for r in rows):
            series["p95"] = [float(r["p95"]) if isinstance(r.get("p95"), int | float) else None for r in rows]
        labels = [str(r.get("metric", "?"))[:70] for r in rows]
        plots.append(_plot(report_plots.bar_chart(f"{bench.name} ({unit})", labels, series, unit)))
    return "".join(plots)


def bench_section(sources: Sources) -> str:
    if not sources.benches:
        return _none(
            "no bench results in this report (reports/bench*.json: nox -s bench -- --json > reports/bench.json)"
        )
    parts = []
    for bench in sources.benches:
        extra = [k for k in dict.fromkeys(k for row in bench.rows for k in row) if k not in BENCH_COLUMNS]
        columns = [c for c in BENCH_COLUMNS if any(c in row for row in bench.rows)] + extra
        rows = []
        for row in bench.rows:
            css = {"OVER": "failed", "ok": "passed"}.get(str(row.get("verdict")), "")
            rows.append("<tr>" + "".join(_cell(row.get(c), css if c == "verdict" else "") for c in columns) + "</tr>")
        notes = "".join(f"<li>{escape(note)}</li>" for note in bench.notes)
        parts.append(
            f"<h3>{escape(bench.name)}</h3>" + _table(columns, rows, "bench") + (f"<ul>{notes}</ul>" if notes else "")
        )
        parts.append(_bench_plot(bench))
    return "".join(parts)


def folders_section(sources: Sources) -> str:
    if not sources.folders:
        return _none("no failure folders in this report (reports/logs/ is empty: no test failed with a stack)")
    items = "".join(f"<li>{_link(f'{sources.link_base}logs/{name}/', name)}</li>" for name in sources.folders)
    return f"<ul class='folders'>{items}</ul>"


def problems_section(sources: Sources) -> str:
    if not sources.unreadable:
        return ""
    items = "".join(f"<li><code>{escape(str(u.path))}</code>: {escape(u.error)}</li>" for u in sources.unreadable)
    title = "<strong>Unreadable files (left out of this report):</strong>"
    return f"<div class='problems' id='unreadable'>{title}<ul>{items}</ul></div>"


def headline(sources: Sources) -> str:
    failed = sum(tier.count(FAILED) for tier in sources.tiers)
    passed = sum(tier.count(PASSED) for tier in sources.tiers)
    skipped = sum(tier.count(SKIPPED) for tier in sources.tiers)
    cells = (
        ""
        if sources.matrix is None
        else f"{sum(c.exit_code == 0 for c in sources.matrix.cells)} of {len(sources.matrix.cells)} cells passed; "
    )
    css = "failed" if failed or (sources.matrix and any(c.exit_code for c in sources.matrix.cells)) else "passed"
    text = f"{cells}{len(sources.tiers)} tiers: {passed} passed, {failed} failed, {skipped} skipped"
    return f"<p id='headline' class='{css}'>{escape(text)}</p>"


def render(sources: Sources, generated: datetime | None = None) -> str:
    """The whole page, one string."""
    when = (generated or datetime.now(UTC)).isoformat(timespec="seconds")
    sections = [
        ("matrix", "Matrix (make test / support.ci_matrix run)", matrix_section),
        ("tiers", "Tiers", tiers_section),
        ("flake", "Flake rates", flake_section),
        ("resilience", "Resilience: checker counts and recovery times", resilience_section),
        ("bench", "Bench", bench_section),
        ("folders", "Failure folders", folders_section),
    ]
    body = "".join(
        f"<section id='{key}'><h2>{escape(title)}</h2>{build(sources)}</section>" for key, title, build in sections
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Stigmer E2E run report</title>"
        f"<style>{STYLE}</style></head><body><h1>Stigmer E2E run report</h1>"
        f"<p>generated {escape(when)} from <code>{escape(str(sources.reports))}</code></p>"
        f"{headline(sources)}{problems_section(sources)}{body}</body></html>\n"
    )


def write_report(reports: Path, out: Path | None = None) -> Path:
    """Read ``reports`` and write the page (default ``reports/index.html``); its path."""
    out = out or reports / INDEX
    out.parent.mkdir(parents=True, exist_ok=True)
    sources = collect(reports)
    relative = Path(os.path.relpath(reports.resolve(), out.parent.resolve())).as_posix()
    sources.link_base = "" if relative == "." else f"{relative}/"
    out.write_text(render(sources), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support.report_html", description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=REPORTS, help="the reports folder to read (default: reports/)")
    parser.add_argument("--out", type=Path, help="the HTML file to write (default: index.html in the reports folder)")
    args = parser.parse_args(argv)
    if not args.reports.is_dir():
        parser.error(
            f"{args.reports} is not a folder: run a tier first (e.g. nox -s smoke), or name one with --reports"
        )
    path = write_report(args.reports, args.out)
    print(f"report: {path.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
