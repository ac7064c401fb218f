"""The workflow engine (interopgate/workflow.py) against the embedded site: what it reads
from the message it sent, how it follows it into the worklist, and what it calls a
problem; and the embedded launcher taking the profile's hl7.cancel at start."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate import targets
from interopgate.device import DeviceClient
from interopgate.dicom.query import SPS
from interopgate.evidence import Transcript
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.mllp import MLLPClient
from interopgate.profile import Profile, load_profile
from interopgate.targets import RunningTarget
from interopgate.workflow import ACCEPTED, Flow, Sent, tag_label, value_at
from tests.conftest import PROFILES


def _profile(tmp_path: Path, body: str = "") -> Profile:
    path = tmp_path / "device.yaml"
    path.write_text("extends: agfa-cr\n" + body)
    return load_profile(str(path), PROFILES).profile


@pytest.fixture
def make_flow(tmp_path: Path) -> Iterator[Callable[[Profile], tuple[Flow, RunningTarget]]]:
    """``make_flow(profile)``: a Flow over the embedded site that profile starts."""
    with contextlib.ExitStack() as stack:

        def make(profile: Profile) -> tuple[Flow, RunningTarget]:
            running = stack.enter_context(
                targets.start(profile, profile.device.ae_title, tmp_path / "work")
            )
            transcript = Transcript("workflow engine", tmp_path / "transcript.txt")
            client = stack.enter_context(
                MLLPClient.for_settings(running.hl7_address, profile.hl7, note=transcript.note)
            )
            factory = HL7MessageFactory(
                make_faker(20240916),
                profile.hl7.version,
                station_ae=profile.device.ae_title,
                modality=profile.device.modality,
            )
            device = DeviceClient(profile, running.endpoint, transcript)
            return Flow(profile, client, factory, device, transcript), running

        yield make


def _created(flow: Flow) -> tuple[Sent, list[Dataset]]:
    _, _, message = flow.new_order()
    sent = flow.send(message)
    flow.must_accept(sent, "create")
    found, _ = flow.poll([sent.accession], flow.complete(sent))
    return sent, found[sent.accession]


def test_create_is_followed_into_one_complete_item(make_flow, tmp_path):
    flow, _ = make_flow(_profile(tmp_path))
    sent, items = _created(flow)
    assert sent.ack in ACCEPTED
    assert sent.message_type == "SIU^S12" and sent.accession
    assert sent.expected["PatientID"] and sent.start[0] and len(sent.start[1]) == 6
    assert len(items) == 1
    assert flow.problems(sent, items[0]) == []
    assert flow.describe(sent, items, 0.5) == "\n    1 item(s) after 0.50 s\n    item 1: complete"


def test_problems_name_missing_empty_and_differing_keys(make_flow, tmp_path):
    flow, _ = make_flow(_profile(tmp_path))
    sent, [item] = _created(flow)

    no_sps = Dataset()
    no_sps.update(item)
    del no_sps[SPS]
    assert flow.problems(sent, no_sps) == [f"{tag_label(SPS)} missing"]
    no_sps.ScheduledProcedureStepSequence = []
    assert flow.problems(sent, no_sps) == [f"{tag_label(SPS)} present with 0 items"]

    wrong = Dataset()
    wrong.update(item)
    wrong.PatientID = ""
    wrong.PatientName = "OTHER^NAME"
    wrong.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime = "235900"
    problems = flow.problems(sent, wrong)
    assert "PatientID (0010,0020) zero-length" in problems
    assert f"PatientName (0010,0010) 'OTHER^NAME', sent {sent.expected['PatientName']!r}" in (
        problems
    )
    assert any(p.startswith(f"SPS start {sent.start[0]} 235900, sent") for p in problems)
    # Completeness alone does not compare the values sent.
    assert flow.problems(sent, wrong, compare=False) == ["PatientID (0010,0020) zero-length"]
    assert flow.describe(sent, [], 1.0) == f"no item with accession {sent.accession} after 1.00 s"


@pytest.mark.parametrize(
    ("body", "kept"),
    [("", None), ("hl7: {cancel: mark, cancel_status: CANCELLED_BY_RIS}\n", "CANCELLED_BY_RIS")],
    ids=["remove", "mark"],
)
def test_embedded_site_cancels_as_the_profile_says_from_the_start(make_flow, tmp_path, body, kept):
    """The launcher hands the profile's hl7.cancel to the site it starts (SiteConfig):
    nothing configures the site after it runs."""
    flow, _ = make_flow(_profile(tmp_path, body))
    sent = flow.create_then_cancel()
    assert sent.message_type == "SIU^S15"
    found, _ = flow.poll([sent.accession], lambda found: True)
    items = found[sent.accession]
    if kept is None:
        assert items == []
    else:
        assert [value_at(i, wm.STATUS) for i in items] == [kept]


def test_sweep_sends_one_appointment_per_minute(make_flow, tmp_path):
    flow, running = make_flow(_profile(tmp_path))
    run = flow.sweep(running.hl7_address, [0, 59, 600], "three-minute sweep")
    assert list(run.sent) == [0, 59, 600] and run.accepted == run.sent
    assert len({s.accession for s in run.sent.values()}) == 3
    for minute, sent in run.sent.items():
        assert sent.start[1] == f"{minute // 60:02d}{minute % 60:02d}00"
        [item] = run.found[sent.accession]
        assert flow.problems(sent, item) == []


def test_a_profile_without_orders_skips_with_one_line(tmp_path):
    profile = _profile(tmp_path, 'hl7: {messages: ["ADT^A08"]}\n')
    with pytest.raises(pytest.skip.Exception, match="create no orders or appointments"):
        Flow(profile, None, None, None, None)  # type: ignore[arg-type]


def test_value_at_and_tag_label():
    item = Dataset()
    item.PatientID = "P1"
    step = Dataset()
    step.Modality = "CR"
    item.ScheduledProcedureStepSequence = [step]
    assert value_at(item, "PatientID") == "P1"
    assert value_at(item, f"{SPS}[0].Modality") == "CR"
    assert value_at(item, f"{SPS}[0].ScheduledStationAETitle") is None
    assert value_at(item, "AccessionNumber") is None
    assert tag_label("PatientID") == "PatientID (0010,0020)"
    assert tag_label(f"{SPS}[0].Modality") == "Modality (0008,0060)"


def test_a_transcript_makes_a_deferred_note_only_when_it_is_read():
    """A dataset's full text is noted as a callable: not made while the check runs (and
    never for a check that passes), but in the transcript a failed check writes."""
    made = []
    transcript = Transcript("deferred")
    transcript.note("case not run: x: y")
    transcript.note(lambda: made.append(1) or "C-FIND response item:\n(0010,0010) PN DOE^JANE")
    assert transcript.noted_lines()[0].endswith("case not run: x: y")
    assert made == []
    text = transcript.text()
    assert made == [1]
    assert "C-FIND response item:" in text and "DOE^JANE" in text
    assert len(transcript.lines) == 3
