"""What an end-to-end sweep relies on, made deterministic: every message has its own
MSH-10 however fast it goes out, the site applies all of them, and the harness's C-FIND
collects every item while the worklist grows.

A full-day sweep (1,440 SIU^S12) once lost a block of minutes although every message
was answered AA: sent faster than 1,000 control IDs a second, MSH-10 repeated, and the
site treated each repeat as a resend (HL7 2.5 §2.10.2: acknowledged, applied once).
"""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate.device import DeviceClient
from interopgate.dicom import query
from interopgate.dicom.association import Endpoint
from interopgate.evidence import Transcript
from interopgate.hl7 import messages
from interopgate.hl7.mllp import MLLPClient
from interopgate.profile import load_profile
from interopgate.site.pacs import ReferenceSite, SiteConfig
from tests.worklist_items import worklist_item

ROOT = Path(__file__).resolve().parents[1]
SWEEP = 1440


@pytest.fixture
def frozen_clock(monkeypatch):
    """The wall clock held at one second: every ID below is issued "at once"."""
    now = float(int(time.time()))
    clock = types.SimpleNamespace(time=lambda: now, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(messages, "time", clock)
    return now


def test_control_ids_stay_unique_past_1000_a_second(frozen_clock):
    """The harness's messages and the in-process site's ACKs draw on one counter; 2,880
    IDs in one second of the stamp (a sweep and its ACKs) must all differ."""
    ids = [messages.new_control_id(prefix) for _ in range(SWEEP) for prefix in ("WS", "ACK")]
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {20}  # MSH-10 is ST(20) up to HL7 2.6


def test_control_ids_from_several_threads_never_repeat(frozen_clock):
    issued: list[str] = []

    def issue() -> None:
        issued.extend(messages.new_control_id("LT") for _ in range(700))

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(issued)) == len(issued) == 2800


@pytest.fixture
def site():
    with ReferenceSite(SiteConfig()) as running:
        yield running


def test_a_sweep_sent_within_one_second_is_applied_whole(site, frozen_clock):
    """Flow.sweep's way: one template, a copy per minute with its own IDs and a fresh
    MSH-10, over one persistent connection. With the clock frozen all 1,440 fall in one
    second; each must become its own worklist item."""
    factory = HL7MessageFactory(make_faker(11), "2.5")
    template = factory.build("SIU^S12")
    fields = ["SCH-1", "SCH-2", "SCH-5", "SCH-26", "SCH-27"]  # appointment, step, accession
    variants = factory.variants(template, fields)
    acks = []
    with MLLPClient(*site.hl7_address, read_timeout=10, persistent=True) as client:
        for minute in range(SWEEP):
            ids = {f: f"S{minute:05d}" for f in fields}
            message = variants.make(ids, messages.new_control_id("WS"))
            acks.append(messages.Ack.read(client.send(message.text).reply_text).msa_1)
    assert acks == ["AA"] * SWEEP
    assert len(site.worklist) == SWEEP


def _device(site: ReferenceSite) -> DeviceClient:
    host, port = site.dicom_address
    profile = load_profile(
        "agfa-cr", ROOT / "profiles", target_fields={"dicom_port": port, "called_ae": "IG_PACS"}
    ).profile
    endpoint = Endpoint(host, port, "IG_PACS", 5.0, 10.0)
    return DeviceClient(profile, endpoint, Transcript("sweep-integrity", Path("/dev/null")))


def _by_patient(patient_id: str) -> Dataset:
    return query.build_identifier(
        query.MODELS["worklist"], {"PatientID": patient_id}, ["ScheduledProcedureStepSequence"]
    )


def test_c_find_collects_every_item_while_the_worklist_grows(site):
    """The HL7 side adds items while a C-FIND is answered: each answer is one snapshot
    (an unbroken prefix of the items in the order they were added, each once) and the
    harness receives all of it, N of N; once the adds stop, every item is found."""
    seeded, added = 300, 300
    site.add_worklist_items(
        worklist_item("SWEEPPT1", "DOE^JANE", f"A{n:05d}") for n in range(seeded)
    )
    order = [f"A{n:05d}" for n in range(seeded + added)]
    done = threading.Event()

    def add() -> None:
        for n in range(seeded, seeded + added):
            site.add_worklist_items([worklist_item("SWEEPPT1", "DOE^JANE", f"A{n:05d}")])
            time.sleep(0.001)
        done.set()

    adder = threading.Thread(target=add)
    counts: list[int] = []
    with query.FindSession(_device(site), query.MODELS["worklist"]) as session:
        adder.start()
        while True:
            finished = done.is_set()
            outcome = session.find(_by_patient("SWEEPPT1"))
            assert outcome.problem is None and outcome.final_status == "0000H"
            found = outcome.identities()
            assert found == order[: len(found)], "not one snapshot of the worklist"
            counts.append(len(found))
            if finished:
                break
    adder.join()
    assert counts == sorted(counts) and counts[0] >= seeded
    assert counts[-1] == seeded + added


def test_the_worklist_is_handed_out_as_a_copy(site):
    site.add_worklist_items([worklist_item("P1", "DOE^JANE", "AN1")])
    held = site.worklist
    held.append(worklist_item("P2", "ROE^ANN", "AN2"))
    site.add_worklist_items([worklist_item("P3", "POE^EDGAR", "AN3")])
    assert [str(w.PatientID) for w in site.worklist] == ["P1", "P3"]


def test_the_step_index_replaces_removes_and_keeps_the_order(site):
    """The index by (Accession Number, Requested Procedure ID, SPS ID) decides what the
    full scan once did: the same step again replaces the old item (moved last), a
    removed item's step may come back, an item without all three is never merged."""
    first, second = worklist_item("P1", "A^A", "AN1"), worklist_item("P2", "B^B", "AN2")
    site.add_worklist_items([first, second])
    again = worklist_item("P1", "A^AGAIN", "AN1")
    site.add_worklist_items([again])
    assert [str(w.PatientName) for w in site.worklist] == ["B^B", "A^AGAIN"]
    site.remove_worklist_items([again])
    site.remove_worklist_items([first])  # already replaced: nothing happens
    assert site.worklist == [second]
    site.add_worklist_items([first])
    assert site.worklist == [second, first]
    loose = [worklist_item("P3", "C^C", "AN3"), worklist_item("P3", "C^C", "AN3")]
    for item in loose:
        item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID = ""
    site.add_worklist_items(loose)
    assert len(site.worklist) == 4
    site.add_worklist_items(worklist_item("P9", "D^D", f"X{n}") for n in range(2000))
    assert len(site.worklist) == 2004
