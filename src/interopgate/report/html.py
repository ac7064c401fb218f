"""The conformance report as one HTML page: inline CSS and SVG, no script, no fetch, so
it opens offline, prints, and can be mailed to a vendor as one file.

Written with the standard library (``html.escape`` on every value from the run) rather
than a template engine: the page is a handful of tables and three kinds of SVG picture
whose geometry is computed here anyway, and nothing else in the harness needs templates.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from interopgate.report.model import (
    MINUTE_CODES,
    MINUTES_PER_DAY,
    VERDICTS,
    CheckResult,
    RunReport,
)

LABELS = {
    "pass": "pass",
    "fail": "fail",
    "known_deviation": "known deviation",
    "not_applicable": "not applicable",
    "skipped": "skipped",
}
# Sweep cell colours, by minute code (model.MINUTE_CODES).
CELL = {"A": "#3a9d5d", "R": "#c62828", "N": "#ef8f00", "L": "#7b1fa2", ".": "#e4e4e4"}

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid #d0d0d0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.head th{width:14em}
.v{font-weight:600;white-space:nowrap}
.v.pass,td.pass{color:#1e7b3c}.v.fail,td.fail{color:#b71c1c}
.v.known_deviation,td.known_deviation{color:#8a5a00}
.v.not_applicable,.v.skipped,td.not_applicable,td.skipped{color:#666}td.z{color:#bbb}
table.checks{table-layout:fixed;overflow-wrap:anywhere}
tr.fail td:first-child{border-left:4px solid #b71c1c}
pre{white-space:pre-wrap;margin:0;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.check{border:1px solid #d0d0d0;border-left:4px solid #b71c1c;padding:6px 10px;margin:10px 0;
break-inside:avoid}
.check.known_deviation{border-left-color:#c98a00}
.muted{color:#666}
svg text{font:10px system-ui,sans-serif}
@media print{body{margin:0;max-width:none}a{color:inherit}h2{break-after:avoid}
.check,svg{break-inside:avoid}}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render(report: RunReport) -> str:
    """The whole page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        _header(report),
        _summary(report),
    ]
    sweeps = [c for c in report.checks if c.minutes]
    if sweeps:
        parts.append('<h2 id="sweeps">Time sweeps: each minute of the day</h2>')
        parts.append(_legend())
        parts.extend(_sweep(check) for check in sweeps)
    problems = [c for c in report.checks if c.verdict in ("fail", "known_deviation")]
    if problems:
        parts.append(f'<h2 id="failures">Failures and known deviations ({len(problems)})</h2>')
        parts.extend(_detail(check) for check in problems)
    timelines = [c for c in report.checks if c.timeline]
    if timelines:
        parts.append('<h2 id="timelines">Workflow chain: sent → ACK → item appears</h2>')
        parts.extend(_timeline(check) for check in timelines)
    timed = [c for c in report.checks if c.verdict not in ("not_applicable", "skipped")]
    if timed:
        parts.append('<h2 id="latency">Per-check duration</h2>')
        parts.append(_latency(timed))
    parts.append(f'<h2 id="checks">All checks ({len(report.checks)})</h2>')
    parts.append(_all_checks(report.checks))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(report: RunReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


def _rows(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs if v not in (None, "")
    )


def _header(report: RunReport) -> str:
    run = report.run
    header = run.get("header") or {}
    return f'<table class="head" id="header">{_rows(header.items())}</table>'


def _summary(report: RunReport) -> str:
    head = "".join(f"<th>{esc(LABELS[v])}</th>" for v in VERDICTS)
    rows = []
    for area, counts in report.areas().items():
        cells = "".join(
            f'<td class="n {v if counts.get(v) else "z"}" data-verdict="{v}">{counts.get(v, 0)}</td>'
            for v in VERDICTS
        )
        rows.append(f'<tr data-area="{esc(area)}"><th>{esc(area)}</th>{cells}</tr>')
    totals = report.totals()
    cells = "".join(
        f'<td class="n {v}" data-verdict="{v}"><b>{totals.get(v, 0)}</b></td>' for v in VERDICTS
    )
    rows.append(f'<tr data-area="*"><th>all areas</th>{cells}</tr>')
    return (
        '<h2 id="summary">Summary by area</h2>'
        f'<table class="summary"><tr><th>area</th>{head}</tr>{"".join(rows)}</table>'
    )


def _verdict(check: CheckResult) -> str:
    return f'<span class="v {check.verdict}">{esc(LABELS[check.verdict])}</span>'


def _links(check: CheckResult) -> str:
    if not check.evidence:
        return '<span class="muted">-</span>'
    return " ".join(f'<a href="{esc(path)}">{esc(Path(path).name)}</a>' for path in check.evidence)


def _detail(check: CheckResult) -> str:
    anchor = esc(check.nodeid)
    rows = _rows(
        [
            ("check", check.id),
            ("test", check.nodeid),
            ("title", check.title),
            ("clause", check.clause),
            ("subject", check.subject),
        ]
    )
    for name in ("expected", "observed"):
        value = getattr(check, name)
        if value:
            rows += f"<tr><th>{name}</th><td><pre>{esc(value)}</pre></td></tr>"
    if check.reason and not check.observed:
        rows += f"<tr><th>reason</th><td><pre>{esc(check.reason)}</pre></td></tr>"
    rows += f"<tr><th>evidence</th><td>{_links(check)}</td></tr>"
    return (
        f'<div class="check {check.verdict}" id="{anchor}" data-check="{esc(check.id)}">'
        f"<h3>{_verdict(check)} <code>{esc(check.id)}</code></h3>"
        f'<table class="head">{rows}</table></div>'
    )


def _legend() -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i style="background:{CELL[code]}"></i>{esc(text)}</span>'
            for code, text in MINUTE_CODES.items()
        )
        + f'<span><i style="background:{CELL["R"]};opacity:.25"></i>an hour in which a '
        "message met anything but acceptance</span></p>"
    )


def _sweep(check: CheckResult) -> str:
    """24 rows (hours) × 60 columns (minutes); an hour's label is red when a message
    sent in that hour met anything but acceptance, so a sampled sweep (one minute an
    hour) still shows the band of bad hours."""
    cell, left, top = 10, 34, 14
    width, height = left + 60 * cell + 2, top + 24 * cell + 2
    minutes = check.minutes.ljust(MINUTES_PER_DAY, ".")
    out = [
        f'<svg class="sweep" data-check="{esc(check.id)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img">',
        f"<title>{esc(check.id)}: minute of the day outcomes</title>",
        f'<defs><pattern id="unsent" width="{cell}" height="{cell}" patternUnits="userSpaceOnUse">'
        f'<rect width="{cell - 1}" height="{cell - 1}" fill="{CELL["."]}"/></pattern></defs>',
    ]
    for m in range(0, 60, 10):
        out.append(f'<text x="{left + m * cell}" y="10">:{m:02d}</text>')
    for hour in range(24):
        row = minutes[hour * 60 : hour * 60 + 60]
        sent = [c for c in row if c != "."]
        bad = any(c != "A" for c in sent)
        y = top + hour * cell
        colour = "#c62828" if bad else "#333"
        weight = ' font-weight="bold"' if bad else ""
        out.append(
            f'<text x="2" y="{y + 9}" fill="{colour}"{weight} data-hour="{hour:02d}"'
            f' data-bad="{int(bad)}">{hour:02d}</text>'
        )
        out.append(
            f'<rect x="{left}" y="{y}" width="{60 * cell}" height="{cell}" fill="url(#unsent)"/>'
        )
        if bad:  # the hour's band, so a sampled sweep's one cell an hour still reads as one
            out.append(
                f'<rect x="{left}" y="{y}" width="{60 * cell}" height="{cell}" '
                f'fill="{CELL["R"]}" fill-opacity="0.18" data-band="{hour:02d}"/>'
            )
        for minute, code in enumerate(row):
            if code == ".":
                continue  # the row's pattern draws it
            out.append(
                f'<rect x="{left + minute * cell}" y="{y}" width="{cell - 1}" '
                f'height="{cell - 1}" fill="{CELL.get(code, CELL["."])}" '
                f'data-minute="{hour:02d}:{minute:02d}" data-code="{esc(code)}"/>'
            )
    out.append("</svg>")
    counts = {code: minutes.count(code) for code in MINUTE_CODES}
    tally = ", ".join(f"{n} {MINUTE_CODES[c].split(' (')[0]}" for c, n in counts.items() if n)
    return (
        f"<h3>{_verdict(check)} <code>{esc(check.id)}</code> "
        f'<span class="muted">{esc(check.nodeid)}</span></h3>'
        + "".join(out)
        + f'<p class="muted">{esc(tally)}</p>'
    )


def _timeline(check: CheckResult) -> str:
    events = sorted(check.timeline)
    span = max(events[-1][0], 1e-3)
    width, left, right, y = 900, 20, 200, 40
    scale = (width - left - right) / span
    out = [
        f'<svg class="timeline" data-check="{esc(check.id)}" width="{width}" height="90" '
        f'viewBox="0 0 {width} 90" xmlns="http://www.w3.org/2000/svg" role="img">',
        f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#888"/>',
    ]
    for i, (seconds, label) in enumerate(events):
        x = left + seconds * scale
        dy = -12 if i % 2 == 0 else 26
        out.append(f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="#1565c0"/>')
        out.append(f'<text x="{x:.1f}" y="{y + dy}">{esc(label)} ({seconds * 1000:.0f} ms)</text>')
    out.append("</svg>")
    return (
        f"<h3>{_verdict(check)} <code>{esc(check.id)}</code> "
        f'<span class="muted">{esc(check.nodeid)}</span></h3>' + "".join(out)
    )


def _latency(checks: list[CheckResult]) -> str:
    """Horizontal bars, the slowest first (at most 40), on one scale."""
    shown = sorted(checks, key=lambda c: c.duration, reverse=True)[:40]
    longest = max((c.duration for c in shown), default=0.0) or 1e-3
    bar_left, bar_width, row = 380, 420, 14
    height = row * len(shown) + 4
    out = [
        f'<svg class="latency" width="{bar_left + bar_width + 80}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img"><title>check durations</title>'
    ]
    colour = {"pass": "#3a9d5d", "fail": "#c62828", "known_deviation": "#c98a00"}
    for i, check in enumerate(shown):
        y = i * row + 2
        label = check.nodeid.split("::")[-1]
        label = label if len(label) <= 62 else label[:60] + "…"
        w = max(1.0, check.duration / longest * bar_width)
        out.append(f'<text x="0" y="{y + 10}">{esc(label)}</text>')
        out.append(
            f'<rect x="{bar_left}" y="{y}" width="{w:.1f}" height="{row - 3}" '
            f'fill="{colour.get(check.verdict, "#999")}"/>'
        )
        out.append(f'<text x="{bar_left + w + 4:.1f}" y="{y + 10}">{check.duration:.2f} s</text>')
    out.append("</svg>")
    more = len(checks) - len(shown)
    note = f'<p class="muted">{more} faster check(s) not drawn.</p>' if more > 0 else ""
    return "".join(out) + note


def _all_checks(checks: list[CheckResult]) -> str:
    rows = [
        "<tr><th>check</th><th>title</th><th>clause</th><th>verdict</th>"
        "<th>expected / observed / reason</th><th>s</th><th>evidence</th></tr>"
    ]
    for check in checks:
        said = ""
        if check.expected or check.observed:
            said = f"<b>expected:</b> {esc(check.expected)}<br><b>observed:</b> " + esc(
                check.observed
            )
        elif check.reason:
            said = esc(check.reason)
        rows.append(
            f'<tr class="{check.verdict}" data-check="{esc(check.id)}" '
            f'data-verdict="{check.verdict}"><td><code>{esc(check.id)}</code><br>'
            f'<span class="muted">{esc(check.nodeid.split("::")[-1])}</span></td>'
            f"<td>{esc(check.title)}</td><td>{esc(check.clause)}</td><td>{_verdict(check)}</td>"
            f'<td>{said}</td><td class="n">{check.duration:.2f}</td><td>{_links(check)}</td></tr>'
        )
    return f'<table class="checks">{"".join(rows)}</table>'
