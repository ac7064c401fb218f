"""The run as the conformance report sees it: each check item's final report turned into
a :class:`~interopgate.report.CheckResult`, the target's identity read from the bytes it
sent (its A-ASSOCIATE-AC, its first HL7 ACK), and the header, written as
``report.html`` and ``results.json`` next to junit.xml.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import dpkt
import pytest
from pynetdicom.pdu import A_ASSOCIATE_AC

from interopgate import __version__, checks
from interopgate.evidence.pcap import SERVER
from interopgate.hl7 import er7
from interopgate.plugin.state import RunState
from interopgate.report import CheckResult, RunReport
from interopgate.report import html as report_html
from interopgate.report.model import parse_failure

# user_properties names of the target's identity (travel from xdist workers)
DICOM_IDENTITY = "peer_dicom"
HL7_IDENTITY = "peer_hl7"
_SEEN = pytest.StashKey[set[str]]()  # identities this process has already reported


def verdict_of(report: pytest.TestReport) -> str | None:
    """The report verdict of a final phase report, None for a phase that decides nothing
    (a passed setup or teardown)."""
    xfail = hasattr(report, "wasxfail")
    if report.skipped and not xfail:
        return "skipped"
    if report.when == "call":
        if xfail:
            return "known_deviation" if report.skipped else "fail"  # XPASS(strict) fails
        return "pass" if report.passed else "fail"
    if report.failed:
        return "fail"
    return None


def result_of(report: pytest.TestReport, report_dir: Path) -> CheckResult | None:
    props = dict(report.user_properties)
    check_id = props.get("check")
    verdict = verdict_of(report)
    if check_id is None or verdict is None:
        return None
    check = checks.CHECKS.get(str(check_id))
    result = CheckResult(
        id=str(check_id),
        nodeid=report.nodeid,
        verdict=verdict,
        title=check.title if check else "",
        clause=str(props.get("clause") or (check.clause if check else "")),
    )
    if verdict == "skipped" and isinstance(report.longrepr, tuple):
        result.reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif verdict == "known_deviation":
        result.reason = str(getattr(report, "wasxfail", ""))
    elif verdict == "fail":
        text = str(report.longrepr)
        parts = parse_failure(text)
        head = parts.get("head", "")
        clause = result.clause
        result.subject = head.removeprefix(f"{clause}: ") if clause else head
        result.expected = parts.get("expected", "")
        result.observed = parts.get("observed", "")
        if "target" in parts:
            result.observed += f"\ntarget: {parts['target']}"
        if not result.expected and not result.observed:  # not a verdict: an exception
            crash = getattr(report.longrepr, "reprcrash", None)
            result.reason = crash.message if crash is not None else text[:2000]
        result.evidence = evidence_links(parts.get("evidence", ""), report_dir)
    minutes = props.get("minutes")
    if isinstance(minutes, str):
        result.minutes = minutes
    timeline = props.get("timeline")
    if isinstance(timeline, str):
        result.timeline = [(float(t), str(label)) for t, label in json.loads(timeline)]
    return result


def evidence_links(text: str, report_dir: Path) -> list[str]:
    """The ``evidence:`` paths of a failure, relative to the report so the links work
    wherever the report directory is copied (the pcapng is written at teardown, after
    this report: :func:`build` keeps the links whose file exists by then)."""
    return [
        os.path.relpath(Path(raw.strip()).resolve(), report_dir.resolve())
        for raw in text.replace("\n", ",").replace("; whole run:", ",").split(",")
        if raw.strip()
    ]


def identity(seen_by: pytest.Config, capture) -> list[tuple[str, str]]:
    """What the target said about itself, once per process: from the first A-ASSOCIATE-AC
    its Implementation Class UID and Version Name (PS3.7 D.3.3.2, PS3.8 9.3.3) and the
    AE it answered as; from its first HL7 ACK, MSH-3/4 (its application and facility)
    and MSH-5/6 (whom it answered). Read from the bytes of the check's capture."""
    if capture is None:
        return []
    seen = seen_by.stash.setdefault(_SEEN, set())
    found: list[tuple[str, str]] = []
    for connection in capture.connections:
        kind = DICOM_IDENTITY if connection.protocol == "dicom" else HL7_IDENTITY
        if kind in seen:
            continue
        payload = _server_bytes(connection)
        value = _dicom_identity(payload) if kind == DICOM_IDENTITY else _hl7_identity(payload)
        if value:
            seen.add(kind)
            address = f"{connection.server[0]}:{connection.server[1]}"
            found.append((kind, json.dumps({"address": address, **value})))
    return found


def _server_bytes(connection) -> bytes:
    """The payload the server side sent, in order (the frames dpkt built are parsed back)."""
    server = connection.wire[SERVER]
    data = b""
    for packet in connection.packets:
        ip = dpkt.ethernet.Ethernet(packet.frame).data
        tcp = ip.data
        if tcp.sport == server[1] and tcp.data:
            data += bytes(tcp.data)
            if len(data) > 65536:
                break
    return data


def _dicom_identity(data: bytes) -> dict[str, str] | None:
    if len(data) < 6 or data[0] != 0x02:
        return None
    length = int.from_bytes(data[2:6], "big")
    if len(data) < 6 + length:
        return None
    pdu = A_ASSOCIATE_AC()
    pdu.decode(data[: 6 + length])
    info = pdu.user_information
    return {
        "ae": str(pdu.called_ae_title).strip(),
        "implementation_class_uid": str(info.implementation_class_uid or "") if info else "",
        "implementation_version_name": str(info.implementation_version_name or "") if info else "",
    }


def _hl7_identity(data: bytes) -> dict[str, str] | None:
    start, end = data.find(b"\x0bMSH"), data.find(b"\x1c")
    if start < 0 or end < start:
        return None
    text = data[start + 1 : end].decode("latin-1")
    names = {
        "sending_application": "MSH-3",
        "sending_facility": "MSH-4",
        "receiving_application": "MSH-5",
        "receiving_facility": "MSH-6",
        "version": "MSH-12",
    }
    return {name: er7.value(text, location) for name, location in names.items()}


def header(config: pytest.Config, state: RunState, tally_identity: dict[str, str], started: float):
    """The report's header rows, in the order they are shown."""
    loaded = state.loaded
    rows: dict[str, str] = {}
    if loaded is not None:
        profile = loaded.profile
        rows["device profile"] = f"{profile.name} ({loaded.source})"
        rows["device"] = f"AE {profile.device.ae_title}, modality {profile.device.modality}"
        target = state.target.description if state.target is not None else profile.target.kind
        rows["target"] = target
        faults = getattr(profile.target, "faults", None)
        if faults:
            rows["site faults"] = ", ".join(faults)
    dicom = json.loads(tally_identity.get(DICOM_IDENTITY, "{}"))
    if dicom:
        rows["DICOM peer"] = f"AE {dicom.get('ae')} at {dicom.get('address')}"
        rows["Implementation Class UID"] = dicom.get("implementation_class_uid", "")
        rows["Implementation Version Name"] = dicom.get("implementation_version_name", "")
    hl7 = json.loads(tally_identity.get(HL7_IDENTITY, "{}"))
    if hl7:
        rows["HL7 peer (its ACK's MSH-3/4)"] = (
            f"{hl7.get('sending_application')} / {hl7.get('sending_facility')} at "
            f"{hl7.get('address')}, HL7 {hl7.get('version')}"
        )
        rows["HL7 peer answered (MSH-5/6)"] = (
            f"{hl7.get('receiving_application')} / {hl7.get('receiving_facility')}"
        )
    moment = dt.datetime.fromtimestamp(started, dt.timezone.utc)
    rows["date"] = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    seed = getattr(config.option, "ig_seed", None)
    if seed is not None:
        rows["data seed"] = str(seed)
    rows["harness"] = f"InteropGate {__version__}"
    rows["command"] = "pytest " + " ".join(config.invocation_params.args)
    return rows


def build(config: pytest.Config, state: RunState, tally) -> RunReport:
    loaded = state.loaded
    title = f"InteropGate conformance report: {loaded.profile.name}" if loaded else "InteropGate"
    rows = header(config, state, tally.identity, tally.started)
    run = {
        "header": rows,
        "profile": loaded.profile.name if loaded else None,
        "identity": {k: json.loads(v) for k, v in tally.identity.items()},
        "started": dt.datetime.fromtimestamp(tally.started, dt.timezone.utc).isoformat(),
        "harness_version": __version__,
        "seed": getattr(config.option, "ig_seed", None),
        "junit": str(config.option.xmlpath) if getattr(config.option, "xmlpath", None) else None,
    }
    for result in tally.results.values():
        result.evidence = [e for e in result.evidence if (state.report_dir / e).is_file()]
    return RunReport(title, run, list(tally.results.values()))


def write(config: pytest.Config, state: RunState, tally) -> tuple[Path, Path]:
    report = build(config, state, tally)
    html_path = report_html.write(report, state.report_dir / "report.html")
    json_path = report.write_json(state.report_dir / "results.json")
    return html_path, json_path
