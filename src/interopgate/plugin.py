"""The pytest plugin (entry point ``pytest11: interopgate``): options, fixtures, reports.

A thin adapter over the engine: it loads the profile (profile.py), starts the target
(targets/), hands suites their fixtures, turns ``known_deviations`` into xfails, puts
profile/target/check/clause on every JUnit testcase, and writes reports/ by default
(junit.xml, report.html, evidence/). Bad input stops the run with one sentence
(errors.py) and no traceback. State lives in ``config.stash``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from interopgate import checks
from interopgate.dicom.client import DeviceClient
from interopgate.errors import InteropGateError, TargetError, TargetUnavailable
from interopgate.evidence import Transcript, evidence_name
from interopgate.profile import LoadedProfile, available_profiles, load_profile
from interopgate.site.faults import FAULTS
from interopgate.verdict import CheckContext


@dataclass
class RunState:
    report_dir: Path
    profiles_dir: Path
    loaded: LoadedProfile | None = None
    target: object | None = None  # targets.RunningTarget
    unavailable: str | None = None
    fatal: str | None = None
    exit_stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    evidence_files: list[Path] = field(default_factory=list)


STATE = pytest.StashKey[RunState]()
TRANSCRIPT = pytest.StashKey[Transcript]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interopgate", "InteropGate conformance run")
    group.addoption(
        "--profile",
        dest="ig_profile",
        metavar="NAME|PATH",
        help="vendor profile: a name in profiles/ (e.g. agfa-cr) or a path to a YAML file. "
        "`interopgate profiles` lists them.",
    )
    group.addoption(
        "--target",
        dest="ig_target",
        metavar="SPEC",
        help="override the profile's target: 'embedded', a target profile in "
        "profiles/targets/ (e.g. orthanc), or dicom://CALLED_AE@host:port for a live system.",
    )
    group.addoption(
        "--target-host",
        dest="ig_target_host",
        metavar="HOST",
        help="the target's host; makes the target live (with --dicom-port) if it is not",
    )
    group.addoption(
        "--dicom-port",
        dest="ig_dicom_port",
        type=_port,
        metavar="PORT",
        help="the target's DICOM port; makes the target live if it is not",
    )
    group.addoption(
        "--hl7-port",
        dest="ig_hl7_port",
        type=_port,
        metavar="PORT",
        help="the target's HL7 (MLLP) port; makes the target live if it is not",
    )
    group.addoption(
        "--called-ae",
        dest="ig_called_ae",
        metavar="AE",
        help="the target's AE title (called AE), for any target kind",
    )
    group.addoption(
        "--site-fault",
        dest="ig_faults",
        action="append",
        default=[],
        metavar="FAULT",
        help="switch on a fault of the embedded reference site (repeatable); "
        f"one of: {', '.join(FAULTS)}",
    )
    group.addoption(
        "--report-dir",
        dest="ig_report_dir",
        metavar="DIR",
        help="where junit.xml, report.html and evidence/ go (default: reports/, "
        "ini: interopgate_report_dir)",
    )
    group.addoption(
        "--profiles-dir",
        dest="ig_profiles_dir",
        metavar="DIR",
        help="where profile names are looked up (default: profiles/ under the rootdir, "
        "ini: interopgate_profiles_dir)",
    )
    group.addoption(
        "--repeat",
        dest="ig_repeat",
        type=int,
        metavar="N",
        help="send each worklist completeness query N times and report how many of the N "
        "failed, for intermittent defects (default 3, ini: interopgate_repeat)",
    )
    parser.addini("interopgate_repeat", "default for --repeat", default="3")
    parser.addini("interopgate_report_dir", "default for --report-dir", default="reports")
    parser.addini("interopgate_profiles_dir", "default for --profiles-dir", default="profiles")


def _port(text: str) -> int:
    """argparse type for the port options: an integer 1-65535, else one sentence."""
    import argparse

    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port number 1-65535, got {text!r}")
    return int(text)


def _target_fields(config: pytest.Config) -> dict[str, object]:
    """The --target-host/--dicom-port/--hl7-port/--called-ae overrides that were given."""
    fields = {
        "host": config.option.ig_target_host,
        "dicom_port": config.option.ig_dicom_port,
        "hl7_port": config.option.ig_hl7_port,
        "called_ae": config.option.ig_called_ae,
    }
    return {key: value for key, value in fields.items() if value is not None}


def target_name(target) -> str:
    """A short name for the target: the column of the compatibility table."""
    if target.kind == "process":
        return target.server
    if target.kind == "container":
        return f"container:{target.service}"
    if target.kind == "live":
        return f"live:{target.host}:{target.dicom_port}"
    return target.kind


def _state(config: pytest.Config) -> RunState:
    return config.stash[STATE]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Runs before junitxml/pytest-html configure, so their defaults can point at reports/."""
    config.addinivalue_line("markers", "check(id): the conformance check this test implements")
    report_dir = Path(config.option.ig_report_dir or config.getini("interopgate_report_dir"))
    profiles_dir = Path(config.option.ig_profiles_dir or config.getini("interopgate_profiles_dir"))
    if not profiles_dir.is_absolute():
        profiles_dir = config.rootpath / profiles_dir
    state = RunState(report_dir=report_dir, profiles_dir=profiles_dir)
    config.stash[STATE] = state
    is_worker = hasattr(config, "workerinput")
    if not is_worker:
        if getattr(config.option, "xmlpath", None) is None:
            config.option.xmlpath = str(report_dir / "junit.xml")
        if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
            config.option.htmlpath = str(report_dir / "report.html")
            config.option.self_contained_html = True
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlReport(state), "interopgate-html")
    repeat = config.option.ig_repeat
    repeat = int(config.getini("interopgate_repeat")) if repeat is None else repeat
    if repeat < 1:
        raise pytest.UsageError(f"interopgate: --repeat={repeat}: expected 1 or more")
    config.option.ig_repeat = repeat
    if config.option.ig_profile:
        try:
            state.loaded = load_profile(
                config.option.ig_profile,
                profiles_dir,
                target=config.option.ig_target,
                extra_faults=config.option.ig_faults,
                target_fields=_target_fields(config),
            )
        except InteropGateError as exc:
            raise pytest.UsageError(f"interopgate: {exc}") from None
    elif config.option.ig_target or config.option.ig_faults or _target_fields(config):
        raise pytest.UsageError(
            "interopgate: --target, --site-fault and the target options need --profile=NAME"
        )


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


def _uses_xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start (or pre-flight) the target before the header prints, so it can show ports."""
    config = session.config
    state = _state(config)
    if state.loaded is None or _uses_xdist_controller(config):
        return
    from interopgate import targets

    worker = getattr(config, "workerinput", {}).get("workerid")
    work_dir = state.report_dir / (f"work-{worker}" if worker else "work")
    try:
        state.target = state.exit_stack.enter_context(
            targets.start(state.loaded.profile, state.loaded.profile.device.ae_title, work_dir)
        )
    except TargetUnavailable as exc:
        state.unavailable = str(exc)
    except TargetError as exc:
        # Exit from the run loop, not here: after sessionstart, so reports are still written.
        state.fatal = f"interopgate: {exc}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    fatal = _state(session.config).fatal
    if fatal:
        pytest.exit(fatal, returncode=3)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.exit_stack.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
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
        lines.append(f"target: {state.target.description}")  # type: ignore[attr-defined]
    elif state.unavailable:
        lines.append(f"target: {profile.target.kind} - SKIPPED: {state.unavailable}")
    elif state.fatal:
        lines.append(f"target: {profile.target.kind} - UNAVAILABLE (see below)")
    else:
        lines.append(f"target: {profile.target.kind} (started per xdist worker)")
    if profile.known_deviations:
        lines.append(f"known deviations: {len(profile.known_deviations)}")
    lines.append(f"reports: {state.report_dir}/ (junit.xml, report.html, evidence/)")
    return lines


def _check_of(item: pytest.Item) -> checks.Check | None:
    marker = item.get_closest_marker("check")
    if marker is None:
        return None
    try:
        return checks.get(marker.args[0])
    except (KeyError, IndexError) as exc:
        raise pytest.UsageError(f"interopgate: {item.nodeid}: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_not_applicable(config, items)
    state = _state(config)
    check_items = [(item, _check_of(item)) for item in items]
    if any(check for _, check in check_items) and state.loaded is None:
        names = ", ".join(available_profiles(state.profiles_dir)) or "(none found)"
        raise pytest.UsageError(
            "interopgate: no profile given: run e.g. `pytest --profile=agfa-cr` "
            f"(profiles in {state.profiles_dir}: {names})"
        )
    for item, check in check_items:
        if check is None or state.loaded is None:
            continue
        profile = state.loaded.profile
        item.user_properties += [
            ("profile", profile.name),
            ("target", profile.target.kind),
            ("target_name", target_name(profile.target)),
            ("check", check.id),
            ("clause", check.clause),
        ]
        if state.target is not None:  # started in sessionstart, before collection
            item.user_properties.append(("target_address", str(state.target.endpoint)))  # type: ignore[attr-defined]
        callspec = getattr(item, "callspec", None)
        deviation = profile.deviation_for(check.id, callspec.id if callspec else None)
        if deviation is not None:
            clause = f" [{deviation.clause}]" if deviation.clause else ""
            item.user_properties.append(("known_deviation", deviation.reason))
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"known deviation: {deviation.reason}{clause}", strict=True
                )
            )


def pytest_runtest_setup(item: pytest.Item) -> None:
    state = _state(item.config)
    if item.get_closest_marker("check") is None:
        return
    if state.unavailable:
        pytest.skip(state.unavailable)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    transcript = item.stash.get(TRANSCRIPT, None)
    if report.when == "call" and transcript is not None:
        if report.failed or hasattr(report, "wasxfail"):
            path = transcript.write()
            if path is not None:
                _state(item.config).evidence_files.append(path)
            report.sections.append(("wire transcript", transcript.text()))
        problem = _target_problem(item.config) if report.failed else None
        if problem:
            report.longrepr = f"{report.longrepr}\n  target: {problem}"
        if report.failed and "XPASS(strict)" in str(report.longrepr):
            report.longrepr = (
                f"known deviation no longer observed: {item.nodeid} passes, so the deviation "
                "declared in the profile's known_deviations is stale; remove it "
                f"({_state(item.config).loaded.source})"  # type: ignore[union-attr]
            )
    return report


def _target_problem(config: pytest.Config) -> str | None:
    """What happened to the target, if it died during the run (process targets)."""
    target = _state(config).target
    problem = getattr(target, "problem", None)
    return problem() if problem else None


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.loaded is None or hasattr(config, "workerinput"):
        return
    parts = [f"{config.option.xmlpath}"]
    if getattr(config.option, "htmlpath", None):
        parts.append(config.option.htmlpath)
    if state.evidence_files:
        parts.append(
            f"{len(state.evidence_files)} evidence file(s) in {state.report_dir}/evidence/"
        )
    logs = getattr(state.target, "logs", None)
    if logs:
        parts.append("target log " + ", ".join(map(str, logs)))
    not_applicable = config.stash.get(NOT_APPLICABLE, [])
    if not_applicable:
        terminalreporter.write_sep("-", f"{len(not_applicable)} check(s) not applicable here")
        for line in not_applicable:
            terminalreporter.write_line(line)
    terminalreporter.write_sep("-", "interopgate reports: " + ", ".join(parts))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def loaded_profile(pytestconfig: pytest.Config) -> LoadedProfile:
    loaded = _state(pytestconfig).loaded
    if loaded is None:
        pytest.fail("no profile given: run with --profile=NAME", pytrace=False)
    return loaded


@pytest.fixture(scope="session")
def profile(loaded_profile: LoadedProfile):
    """The validated :class:`~interopgate.profile.Profile` of this run."""
    return loaded_profile.profile


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config):
    """The running target (:class:`~interopgate.targets.RunningTarget`)."""
    state = _state(pytestconfig)
    if state.unavailable:
        pytest.skip(state.unavailable)
    if state.target is None:
        pytest.fail("the target was not started (no profile?)", pytrace=False)
    return state.target


@pytest.fixture(scope="session")
def repeat(pytestconfig: pytest.Config) -> int:
    """How many times a query check sends its query (``--repeat``, intermittent faults)."""
    return int(pytestconfig.option.ig_repeat)


@pytest.fixture
def transcript(request: pytest.FixtureRequest) -> Transcript:
    state = _state(request.config)
    name = evidence_name(request.node.nodeid)
    path = state.report_dir / "evidence" / f"{name}.txt"
    transcript = Transcript(request.node.nodeid, path)
    request.node.stash[TRANSCRIPT] = transcript
    return transcript


@pytest.fixture
def check(request: pytest.FixtureRequest, transcript: Transcript) -> CheckContext:
    """The running check: its id and clause, and ``fail``/``expect`` for verdicts."""
    found = _check_of(request.node)
    if found is None:
        pytest.fail(f"{request.node.nodeid} uses `check` without @pytest.mark.check", pytrace=False)
    return CheckContext(found, transcript)


@pytest.fixture
def device(profile, target, transcript: Transcript) -> DeviceClient:
    """The device of the profile, ready to associate with the target."""
    return DeviceClient(profile, target.endpoint, transcript)


@pytest.fixture
def mllp_receiver(transcript: Transcript):
    """The harness as an HL7 receiver on a free loopback MLLP port (hl7/receiver.py):
    point the target's outbound interface at ``mllp_receiver.address``, then
    ``wait_for(n, timeout)`` and judge the frames with ``hl7.receiver.inspect``."""
    from interopgate.hl7.receiver import MLLPReceiver

    receiver = MLLPReceiver(note=transcript.note).start()
    transcript.note(f"MLLP receiver listening on {receiver.address[0]}:{receiver.address[1]}")
    try:
        yield receiver
    finally:
        receiver.stop()


# --------------------------------------------------------------------------- parameters

NOT_APPLICABLE = pytest.StashKey[list[str]]()


def parametrize_from_profile(metafunc: pytest.Metafunc, parameters: dict, what: dict) -> None:
    """Parametrize a suite's tests from the profile's lists (``parameters``: fixture name →
    function of the profile). A list that comes out empty yields one ``not_applicable``
    item, deselected and listed in the summary — neither a pass nor a silent skip.
    ``@pytest.mark.<fixture name>(*values)`` on a test restricts it to those values."""
    loaded = metafunc.config.stash[STATE].loaded
    for name, values_of in parameters.items():
        if name not in metafunc.fixturenames:
            continue
        values = values_of(loaded.profile) if loaded else []
        only = metafunc.definition.get_closest_marker(name)
        if only is not None:
            values = [v for v in values if v in only.args]
        if not values:
            reason = f"the profile and its target give no {what.get(name, name)}"
            values = [pytest.param(None, marks=pytest.mark.not_applicable(reason), id="none")]
        metafunc.parametrize(name, values, ids=lambda v: str(v))


def _deselect_not_applicable(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the checks a profile gives nothing to apply to (see above)."""
    dropped = [item for item in items if item.get_closest_marker("not_applicable")]
    if not dropped:
        return
    config.stash[NOT_APPLICABLE] = [
        f"{item.nodeid.split('::')[-1]}: {item.get_closest_marker('not_applicable').args[0]}"
        for item in dropped
    ]
    items[:] = [item for item in items if item not in dropped]
    config.hook.pytest_deselected(items=dropped)
