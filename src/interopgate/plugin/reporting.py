"""What a run reports: reports/ by default (junit.xml, the conformance report
report.html with its data results.json, pytest-html's developer page pytest.html), the
header, the wire transcript and the target's fate on a failed check, a stale known
deviation in one sentence, one console line per check, a progress line on sweeps, and
the summary: where everything went and what the run could and could not do (per suite
area: checks run, not applicable, skipped with the most common reason; a verdict table
by area; the HL7 worklist feed and its cancel)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from interopgate import seeding
from interopgate.evidence.pcap import PcapngFile
from interopgate.plugin import console, results
from interopgate.plugin.options import pcap_mode
from interopgate.plugin.state import STATE, TRANSCRIPT, RunState, run_state
from interopgate.report import CheckResult, area_of

PCAP = pytest.StashKey[Path]()  # on an item: where its capture is to be written
RUN_PCAP = pytest.StashKey[PcapngFile]()  # on the config: the run's capture

LEFT_OUT = "case not run: "
WHOLE_RUN = "; whole run:"  # before the run's capture on a failure's evidence line  # how run_cases notes a matching case it leaves out


@dataclass
class Tally:
    """Per check item: its area and final outcome, for the closing summary."""

    outcomes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # nodeid -> ...
    not_applicable: Counter[str] = field(default_factory=Counter)  # area -> count
    left_out: list[str] = field(default_factory=list)  # "test: case: reason"
    feed: list[str] = field(default_factory=list)  # the feed's lines from xdist workers
    results: dict[str, CheckResult] = field(default_factory=dict)  # nodeid -> the report's
    identity: dict[str, str] = field(default_factory=dict)  # what the target said of itself
    started: float = field(default_factory=time.time)
    report_files: list[Path] = field(default_factory=list)  # report.html, results.json


TALLY = pytest.StashKey[Tally]()
__all__ = ["Tally", "area_lines", "area_of"]


def _tally(config: pytest.Config) -> Tally:
    if TALLY not in config.stash:
        config.stash[TALLY] = Tally()
    return config.stash[TALLY]


def configure(config: pytest.Config, state: RunState) -> None:
    """Point junitxml and pytest-html at the report directory unless told otherwise
    (not on an xdist worker: the controller writes the reports)."""
    if not hasattr(config, "workerinput"):
        if getattr(config.option, "xmlpath", None) is None:
            config.option.xmlpath = str(state.report_dir / "junit.xml")
        if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
            # report.html is the conformance report (report/); pytest-html's test list
            # stays as the developer's page next to it.
            config.option.htmlpath = str(state.report_dir / "pytest.html")
            config.option.self_contained_html = True
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlReport(state), "interopgate-html")
    config.pluginmanager.register(Summary(config), "interopgate-summary")


class HtmlReport:
    """pytest-html hooks, registered only when pytest-html is installed."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_html_report_title(self, report) -> None:
        loaded = self.state.loaded
        report.title = f"InteropGate: {loaded.profile.name}" if loaded else "InteropGate"

    def pytest_html_results_summary(self, prefix, summary, postfix) -> None:
        loaded = self.state.loaded
        if loaded is None:
            return
        profile = loaded.profile
        target = getattr(self.state.target, "description", profile.target.kind)
        prefix.extend(
            [
                f"<p>Profile <b>{profile.name}</b> ({loaded.source}): device "
                f"{profile.device.ae_title}, modality {profile.device.modality}.</p>",
                f"<p>Target: {target}.</p>",
            ]
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = run_state(config)
    if state.loaded is None:
        return []
    profile = state.loaded.profile
    chain = " extends ".join(p.stem for p in reversed(state.loaded.chain))
    lines = [
        f"interopgate profile: {profile.name} ({state.loaded.source}; {chain})",
        f"device: AE {profile.device.ae_title}, modality {profile.device.modality}, "
        f"max PDU {profile.dicom.max_pdu}",
    ]
    if state.target is not None:
        lines.append(f"target: {state.target.description}")
    elif state.unavailable:
        lines.append(f"target: {profile.target.kind} - SKIPPED: {state.unavailable}")
    elif state.fatal:
        lines.append(f"target: {profile.target.kind} - UNAVAILABLE (see below)")
    else:
        lines.append(f"target: {profile.target.kind} (started per xdist worker)")
    if state.target is not None:
        feed_line = seeding.plan(profile, state.target, config.option.ig_keep_worklist)
        if feed_line:
            lines.append(feed_line)
    if profile.known_deviations:
        lines.append(f"known deviations: {len(profile.known_deviations)}")
    lines.append(f"reports: {state.report_dir}/ (report.html, results.json, junit.xml, evidence/)")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    transcript = item.stash.get(TRANSCRIPT, None)
    if report.when == "teardown" and transcript is not None:
        _write_captures(item, transcript)
        report.user_properties.extend(results.identity(item.config, transcript.capture))
    if report.when == "call" and transcript is not None:
        for line in transcript.noted_lines():  # matching cases left out (to the controller)
            if LEFT_OUT in line:
                report.user_properties.append(("case_left_out", line.split(LEFT_OUT, 1)[1]))
    if report.when == "call" and transcript is not None:
        state = run_state(item.config)
        if report.failed or hasattr(report, "wasxfail"):
            path = transcript.write()
            if path is not None:
                state.evidence_files.append(path)
            report.sections.append(("wire transcript", transcript.text()))
        _link_pcap(item, report, transcript)
        problem = _target_problem(state) if report.failed else None
        if problem:
            report.longrepr = f"{report.longrepr}\n  target: {problem}"
        if report.failed and "XPASS(strict)" in str(report.longrepr):
            report.longrepr = (
                f"known deviation no longer observed: {item.nodeid} passes, so the deviation "
                "declared in the profile's known_deviations is stale; remove it "
                f"({state.loaded.source})"  # type: ignore[union-attr]
            )
    return report


class Summary:
    """Counts each check item's final outcome per suite area, on the process that writes
    the summary (the xdist controller gets the workers' reports), and collects the HL7
    feed's lines from xdist workers. Registered per session by :func:`configure`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tally = _tally(config)

    def _tally_outcome(self, report: pytest.TestReport) -> None:
        check_id = dict(report.user_properties).get("check")
        if check_id is None:
            return
        outcome = None
        if report.skipped and not hasattr(report, "wasxfail"):
            outcome = "skipped"
        elif report.when == "call":
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            if report.passed and hasattr(report, "wasxfail"):
                outcome = "xpassed"
        elif report.failed:
            outcome = "error"
        if outcome is None:
            return
        reason = ""
        if outcome == "skipped" and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        self.tally.outcomes[report.nodeid] = (area_of(str(check_id)), outcome, reason)
        for name, value in report.user_properties:
            if name == "case_left_out":
                self.tally.left_out.append(f"{report.nodeid.split('::')[-1]}: {value}")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The conformance report's entry for the item, its duration over all phases,
        the target's identity, and the console line (after pytest's own output)."""
        self._tally_outcome(report)
        if "check" not in dict(report.user_properties):
            return
        for name, value in report.user_properties:
            if name in (results.DICOM_IDENTITY, results.HL7_IDENTITY):
                self.tally.identity.setdefault(name, str(value))
        known = self.tally.results.get(report.nodeid)
        result = results.result_of(report, run_state(self.config).report_dir)
        if result is not None:
            if known is not None:
                result.duration = known.duration
            self.tally.results[report.nodeid] = known = result
            if console.wanted(self.config):
                reason = result.observed or result.reason or result.subject
                console.write_line(
                    self.config,
                    console.line(result.id, report.nodeid, result.verdict, reason),
                )
        if known is not None:
            known.duration += report.duration

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Items deselected as not applicable count for their area."""
        from interopgate.plugin.collection import check_of

        for item in items:
            if item.get_closest_marker("not_applicable") is None:
                continue
            check = check_of(item)
            if check is not None:
                self.tally.not_applicable[area_of(check.id)] += 1
                self.tally.results[item.nodeid] = CheckResult(
                    check.id,
                    item.nodeid,
                    "not_applicable",
                    title=check.title,
                    clause=check.clause,
                    reason=str(item.get_closest_marker("not_applicable").args[0]),  # type: ignore[union-attr]
                )

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """xdist controller: the worker's HL7 feed lines."""
        self.tally.feed.extend(getattr(node, "workeroutput", {}).get("interopgate_feed") or [])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand the HL7 feed's lines to the controller; elsewhere write
    the conformance report (report.html, results.json)."""
    config = session.config
    if hasattr(config, "workeroutput"):
        config.workeroutput["interopgate_feed"] = feed_lines(config)
        return
    state = config.stash.get(STATE, None)
    if state is not None and state.loaded is not None:
        tally = _tally(config)
        tally.report_files = list(results.write(config, state, tally))


def feed_lines(config: pytest.Config) -> list[str]:
    """What the HL7 worklist feed did in this process: sent, listed, cancelled."""
    state = config.stash.get(STATE, None)
    if state is None or state.target is None or state.loaded is None:
        return []
    feed = seeding.feed_for(state.loaded.profile, state.target)
    if feed is None or not feed.fed:
        return []
    lines = [f"worklist feed: {feed.summary()}"]
    for fed in feed.fed:
        if fed.problem:
            lines.append(f"  {fed.accession}: {fed.problem}")
    if feed.withdrawn:
        lines.append(f"worklist feed after the run: {feed.withdrawn}")
    elif config.option.ig_keep_worklist:
        lines.append("worklist feed after the run: fed items kept (--keep-worklist)")
    if feed.evidence is not None:
        lines.append(f"worklist feed record (each message, its ACK, the polls): {feed.evidence}")
    return lines


def area_lines(tally: Tally) -> list[str]:
    """``worklist: 6 run (6 passed); 0 skipped`` per suite area, with the most common
    skip reason and the not-applicable count."""
    areas: dict[str, list[tuple[str, str]]] = {}
    for area, outcome, reason in tally.outcomes.values():
        areas.setdefault(area, []).append((outcome, reason))
    for area in tally.not_applicable:
        areas.setdefault(area, [])
    lines = []
    for area in sorted(areas):
        results = areas[area]
        ran = Counter(o for o, _ in results if o != "skipped")
        skipped = [r for o, r in results if o == "skipped"]
        detail = ", ".join(f"{n} {o}" for o, n in sorted(ran.items()))
        line = f"{area}: {sum(ran.values())} run" + (f" ({detail})" if detail else "")
        line += f"; {len(skipped)} skipped"
        if skipped:
            reason, count = Counter(skipped).most_common(1)[0]
            line += f" (most common, {count} of {len(skipped)}: {reason})"
        if tally.not_applicable.get(area):
            line += f"; {tally.not_applicable[area]} not applicable"
        lines.append(line)
    return lines


def _link_pcap(item: pytest.Item, report: pytest.TestReport, transcript) -> None:
    """Name the check's pcapng next to its transcript in the failure message (the file is
    written at teardown, once the check's connections are closed)."""
    if transcript.capture is None or transcript.path is None:
        return
    wanted = report.failed or hasattr(report, "wasxfail") or pcap_mode(item.config) == "all"
    if not wanted:
        return
    pcap = transcript.path.with_suffix(".pcapng")
    item.stash[PCAP] = pcap
    run_state(item.config).evidence_files.append(pcap)
    if report.failed:
        text = str(report.longrepr)
        line = f"evidence: {transcript.path}"
        # the run's capture too: the exchanges of the checks this one builds on (the
        # end-to-end sweep's C-FINDs next to the HL7 sweep's refusals)
        whole = f"{WHOLE_RUN} {_run_pcap_path(item.config)}"
        if line in text:
            report.longrepr = text.replace(line, f"{line}, {pcap}{whole}", 1)
        else:
            report.longrepr = f"{text}\n  evidence: {pcap}{whole}"


def _write_captures(item: pytest.Item, transcript) -> None:
    """The check's pcapng if it is wanted, and its frames appended to the run's."""
    capture = transcript.capture
    if capture is None:
        return
    capture.finish()
    path = item.stash.get(PCAP, None)
    if path is not None:
        capture.write(path)
    packets = capture.packets()
    if packets:
        _run_pcap(item.config).write(packets)


def _run_pcap_path(config: pytest.Config) -> Path:
    """``evidence/run.pcapng`` (``run-<worker>.pcapng`` under xdist)."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    name = f"run-{worker}.pcapng" if worker else "run.pcapng"
    return run_state(config).report_dir / "evidence" / name


def _run_pcap(config: pytest.Config) -> PcapngFile:
    """The run's capture (:func:`_run_pcap_path`), opened on first use."""
    run = config.stash.get(RUN_PCAP, None)
    if run is None:
        run = PcapngFile(
            _run_pcap_path(config),
            "InteropGate wire capture of a whole run: every check's DICOM associations and "
            "MLLP connections, rebuilt from the bytes the harness's sockets carried; server "
            "ports written as 104 (DICOM) and 2575 (HL7), the real ones in each SYN's comment.",
        )
        config.stash[RUN_PCAP] = run
        config.add_cleanup(run.close)
    return run


def _target_problem(state: RunState) -> str | None:
    """What happened to the target, if it died during the run (process targets)."""
    return state.target.problem() if state.target is not None else None


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.loaded is None or hasattr(config, "workerinput"):
        return
    parts = [str(p) for p in _tally(config).report_files]
    parts.append(f"{config.option.xmlpath}")
    if getattr(config.option, "htmlpath", None):
        parts.append(config.option.htmlpath)
    if state.evidence_files:
        parts.append(
            f"{len(state.evidence_files)} evidence file(s) in {state.report_dir}/evidence/"
        )
    logs = state.target.logs if state.target is not None else None
    if logs:
        parts.append("target log " + ", ".join(map(str, logs)))
    if state.not_applicable:
        terminalreporter.write_sep("-", f"{len(state.not_applicable)} check(s) not applicable here")
        for line in state.not_applicable:
            terminalreporter.write_line(line)
    tally = _tally(config)
    done = area_lines(tally)
    if done:
        terminalreporter.write_sep("-", "interopgate: what this run could do, per suite area")
        for line in done:
            terminalreporter.write_line(line)
        for line in tally.left_out:
            terminalreporter.write_line(f"matching case left out: {line}")
    if tally.results:
        terminalreporter.write_sep("-", "interopgate: verdicts per area")
        for line in console.area_table(results.build(config, state, tally)):
            terminalreporter.write_line(line)
    for line in [*feed_lines(config), *tally.feed]:
        terminalreporter.write_line(line)
    terminalreporter.write_sep("-", "interopgate reports: " + ", ".join(parts))
