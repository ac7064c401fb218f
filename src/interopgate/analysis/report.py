"""The analysis as people and CI read it: a console summary, JUnit XML with one
testcase per finding (so a capture can gate a pipeline like a conformance run does), and
the conformance report of a run (report/: report.html, results.json) with each finding
as a failed check and the HL7 appointments by minute of the day as a sweep grid."""

from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from interopgate import __version__, checks
from interopgate.analysis.findings import Analysis, clock, latency_summary
from interopgate.analysis.hl7 import Hl7Message
from interopgate.hl7.er7 import value as er7_value
from interopgate.hl7.messages import appointment_fields
from interopgate.report import CheckResult, RunReport, minute_grid
from interopgate.report import html as report_html

NEGATIVE = {"AE", "AR", "CE", "CR"}


def console(analysis: Analysis, *, limit: int = 20) -> str:
    """The summary; long lists show their first ``limit`` entries and a count."""
    a = analysis
    lines: list[str] = []
    times = [s.opened.time for s in a.streams]
    span = ""
    if times:
        first = min(a.streams, key=lambda s: s.opened.time).opened
        span = f", from {clock(first)} UTC"
    n_dicom, n_hl7 = len(a.associations), len({m.stream.index for m in a.messages})
    lines.append(
        f"interopgate analyze: {len(a.files)} file(s), {a.frames} frames{span}; "
        f"{len(a.streams)} TCP stream(s): {n_dicom} DICOM, {n_hl7} HL7/MLLP, "
        f"{len(a.streams) - n_dicom - n_hl7} other"
    )

    def section(title: str, entries: list[str]) -> None:
        if not entries:
            return
        lines.append("")
        lines.append(title if ":" in title else f"{title} ({len(entries)})")
        lines.extend(f"  {e}" for e in entries[:limit])
        if len(entries) > limit:
            lines.append(f"  ... {len(entries) - limit} more not shown (--limit)")

    associations: list[str] = []
    for assoc in a.associations:
        where = assoc.requested or assoc.stream.opened
        contexts = list(assoc.contexts.values())
        accepted = sum(1 for c in contexts if c.result == 0)
        outcome = (
            f"REJECTED {assoc.rejected[1]}"
            if assoc.rejected
            else f"ABORTED {assoc.aborted[1]}"
            if assoc.aborted
            else "released"
            if assoc.released
            else "not released in the capture"
        )
        associations.append(
            f"{a.at(where)} {assoc.title}: {len(contexts)} context(s) proposed, {accepted} "
            f"accepted; {outcome}"
            + (f"; acceptor {assoc.implementation}" if assoc.implementation else "")
        )
        associations.extend(
            f"    context {c.describe()}" for c in contexts if c.result != 0 or len(contexts) <= 3
        )
    section(f"DICOM associations: {len(a.associations)}", associations)

    finds = []
    for find in a.finds:
        final = find.final
        status = (
            f"final status 0x{final.status:04X}"
            if final and final.status is not None
            else "no final response"
        )
        bad = sum(1 for i in a.worklist_items if i.find is find and i.problem)
        finds.append(
            f"{a.at(find.request.where)} {find.label}: {find.query_keys()}: {len(find.items)} item(s)"
            + (f", {bad} without a usable SPS" if bad else "")
            + f", {status}"
        )
    section("C-FIND", finds)

    section("HL7 messages", _hl7_lines(a))
    findings = [
        f"[{f.kind}] {a.at(f.where)} {f.summary}" + "".join(f"\n      {d}" for d in f.detail)
        for f in a.findings
    ]
    broken = [line for line, wrong in a.chains if wrong]
    section("Cross-protocol chains with a problem (HL7 message -> ACK -> worklist item)", broken)
    if len(a.chains) > len(broken):
        lines.append(
            f"  {len(a.chains) - len(broken)} more chain(s) complete: ACK AA, item complete"
        )
    lines.append("")
    if a.findings:
        counts = Counter(f.kind for f in a.findings)
        lines.append(
            f"{len(a.findings)} finding(s): "
            + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        )
        lines.extend(f"  {f}" for f in findings[: limit * 2])
        if len(findings) > limit * 2:
            lines.append(f"  ... {len(findings) - limit * 2} more in the JUnit report")
    else:
        lines.append("no findings")
    return "\n".join(lines)


def _hl7_lines(a: Analysis) -> list[str]:
    sent = [m for m in a.messages if not m.is_ack]
    if not sent:
        return []
    by_type: dict[str, list[Hl7Message]] = {}
    for message in sent:
        by_type.setdefault(message.type, []).append(message)
    lines = []
    for kind, messages in by_type.items():
        acks = Counter(m.ack.get("MSA-1") if m.ack else "no ACK" for m in messages)
        lines.append(
            f"{kind}: {len(messages)} message(s); "
            + ", ".join(f"{code} {n}" for code, n in acks.most_common())
            + f"; {latency_summary(messages)}"
        )
    return lines


def junit(analysis: Analysis, path: Path) -> Path:
    """One testcase per finding (failure: the summary and detail); with no finding one
    passing testcase, so a clean capture is visible as such."""
    suite = ET.Element(
        "testsuite",
        name="interopgate-analyze",
        tests=str(max(len(analysis.findings), 1)),
        failures=str(len(analysis.findings)),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    for file in analysis.files:
        ET.SubElement(properties, "property", name="capture", value=str(file))
    for number, finding in enumerate(analysis.findings, 1):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=finding.kind,
            name=f"{number:03d} {analysis.at(finding.where)}",
            time="0",
        )
        props = ET.SubElement(case, "properties")
        for name, value in (
            ("check", finding.kind),
            ("file", finding.where.file),
            ("frame", str(finding.where.frame)),
            ("time", clock(finding.where)),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        failure = ET.SubElement(case, "failure", message=finding.summary)
        failure.text = "\n".join([finding.summary, *finding.detail])
    if not analysis.findings:
        ET.SubElement(suite, "testcase", classname="analysis", name="no findings", time="0")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(ET.Element("testsuites")).getroot().append(suite)
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def conformance_report(analysis: Analysis, report_dir: Path) -> tuple[Path, Path]:
    """``report.html`` and ``results.json`` in ``report_dir``: each finding a failed
    check (its kind the check id, its frame the subject, the capture the evidence link),
    none: one passing entry; the appointment times of the captured HL7 messages as a
    minute-of-day grid (accepted / refused by their ACK)."""
    a = analysis
    links = {f.name: os.path.relpath(f.resolve(), report_dir.resolve()) for f in a.files}
    results = []
    for finding in a.findings:
        known = checks.CHECKS.get(finding.kind)
        results.append(
            CheckResult(
                id=finding.kind,
                nodeid=f"{finding.where.file} frame {finding.where.frame}",
                verdict="fail",
                title=known.title if known else "",
                clause=known.clause if known else "",
                subject=f"{a.at(finding.where)}: {finding.summary}",
                observed="\n".join(finding.detail) or finding.summary,
                evidence=[links[finding.where.file]] if finding.where.file in links else [],
            )
        )
    if not a.findings:
        results.append(CheckResult("analysis.clean", "no findings", "pass", title="no findings"))
    minutes = _appointment_minutes(a)
    if minutes:  # the grid goes with the first refusal (or the clean entry): no extra count
        negative = [r for r in results if r.id == "hl7.ack.negative"] or results
        negative[0].minutes = minute_grid(minutes)
    first = min((s.opened.time for s in a.streams), default=None)
    header = {
        "captures": ", ".join(str(f) for f in a.files),
        "content": f"{a.frames} frames, {len(a.streams)} TCP stream(s), "
        f"{len(a.associations)} DICOM association(s), {len(a.messages)} HL7 message(s)",
        "first frame": dt.datetime.fromtimestamp(first, dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        )
        if first is not None
        else "",
        "acceptor": ", ".join(
            sorted({x.implementation for x in a.associations if x.implementation})
        ),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "harness": f"InteropGate {__version__} (interopgate analyze)",
    }
    run = {"header": header, "captures": [str(f) for f in a.files], "harness_version": __version__}
    report = RunReport("InteropGate capture analysis", run, results)
    html_path = report_html.write(report, report_dir / "report.html")
    return html_path, report.write_json(report_dir / "results.json")


def _appointment_minutes(analysis: Analysis) -> dict[int, str]:
    """Minute of the day of each message's appointment start → A (ACK AA/CA) or R;
    a minute with one refusal is R."""
    out: dict[int, str] = {}
    for message in analysis.messages:
        if message.is_ack or message.ack is None:
            continue
        try:
            fields = appointment_fields(message.type, message.version)
        except (KeyError, ValueError):
            continue
        stamp = next((v for f in fields if (v := er7_value(message.text, f))), "")
        if len(stamp) < 12 or not stamp[8:12].isdigit():
            continue
        hour, minute = int(stamp[8:10]), int(stamp[10:12])
        if hour > 23 or minute > 59:
            continue
        code = "R" if message.ack.get("MSA-1") in NEGATIVE else "A"
        slot = hour * 60 + minute
        out[slot] = "R" if out.get(slot) == "R" else code
    return out
