"""The fixtures a suite's checks take: the run's profile and target, the device as a
DICOM client, the check with its verdict helpers, its wire transcript, and the harness
as an HL7 receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from interopgate.device import DeviceClient
from interopgate.evidence import Capture, Transcript, evidence_name
from interopgate.hl7.mllp import MLLPClient
from interopgate.plugin import console
from interopgate.plugin.collection import check_of
from interopgate.plugin.options import pcap_mode
from interopgate.plugin.state import TRANSCRIPT, run_state
from interopgate.profile import LoadedProfile, Profile
from interopgate.verdict import CheckContext

if TYPE_CHECKING:
    from interopgate.hl7.receiver import MLLPReceiver
    from interopgate.targets import RunningTarget


@pytest.fixture(scope="session")
def loaded_profile(pytestconfig: pytest.Config) -> LoadedProfile:
    loaded = run_state(pytestconfig).loaded
    if loaded is None:
        pytest.fail("no profile given: run with --profile=NAME", pytrace=False)
    return loaded


@pytest.fixture(scope="session")
def profile(loaded_profile: LoadedProfile) -> Profile:
    """The validated :class:`~interopgate.profile.Profile` of this run."""
    return loaded_profile.profile


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> RunningTarget:
    """The running target (:class:`~interopgate.targets.RunningTarget`)."""
    state = run_state(pytestconfig)
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
def transcript(request: pytest.FixtureRequest) -> Iterator[Transcript]:
    """The check's wire transcript, and (unless ``--pcap=none``) its capture: every
    association the device opens and every MLLP client connection while the check runs;
    reporting.py writes them when the check ends."""
    state = run_state(request.config)
    name = evidence_name(request.node.nodeid)
    path = state.report_dir / "evidence" / f"{name}.txt"
    transcript = Transcript(request.node.nodeid, path)
    request.node.stash[TRANSCRIPT] = transcript
    if pcap_mode(request.config) == "none":
        yield transcript
        return
    transcript.capture = Capture(request.node.nodeid, note=transcript.note)
    MLLPClient.taps.append(transcript.capture.mllp_tap)
    try:
        yield transcript
    finally:
        MLLPClient.taps.remove(transcript.capture.mllp_tap)


@pytest.fixture
def check(request: pytest.FixtureRequest, transcript: Transcript) -> CheckContext:
    """The running check: its id and clause, and ``fail``/``expect`` for verdicts."""
    found = check_of(request.node)
    if found is None:
        pytest.fail(f"{request.node.nodeid} uses `check` without @pytest.mark.check", pytrace=False)
    return CheckContext(
        found,
        transcript,
        request.node.user_properties,
        progress=lambda text: console.progress(request.config, text),
    )


@pytest.fixture
def device(profile: Profile, target: RunningTarget, transcript: Transcript) -> DeviceClient:
    """The device of the profile, ready to associate with the target."""
    return DeviceClient(profile, target.endpoint, transcript)


@pytest.fixture
def mllp_receiver(transcript: Transcript) -> Iterator[MLLPReceiver]:
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
