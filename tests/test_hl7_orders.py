"""The site's HL7 interface without sockets: the order application (site/hl7_orders.py)
builds its items from the one mapping table, and the ACK policy (site/hl7_ack.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate.hl7 import er7
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import Ack, parse, value
from interopgate.hl7.mllp import Connection, FrameReader
from interopgate.site.faults import FaultSet
from interopgate.site.hl7_ack import AckPolicy, Outcome, Rejected, malformed
from interopgate.site.hl7_orders import EVENTS, OrderApplication

START = dt.datetime(2030, 1, 15, 14, 5)
VERSION = {"SIU": "2.5", "ORM": "2.5", "OMI": "2.5.1"}
TYPE = {"SIU": "SIU^S12", "ORM": "ORM^O01", "OMI": "OMI^O23"}


class Worklist:
    def __init__(self) -> None:
        self.items: list[Dataset] = []

    def add(self, items: list[Dataset]) -> None:
        self.items += items

    def remove(self, items: list[Dataset]) -> None:
        self.items = [i for i in self.items if all(i is not gone for gone in items)]


def _orders(*faults: str) -> tuple[OrderApplication, Worklist]:
    worklist = Worklist()
    return OrderApplication(worklist.add, worklist.remove, FaultSet(faults)), worklist


def _get(item: Dataset, attribute: str) -> str:
    if attribute.startswith(wm.SPS_PREFIX):
        item = item.ScheduledProcedureStepSequence[0]
        attribute = attribute.removeprefix(wm.SPS_PREFIX)
    return str(item.get(attribute, ""))


@pytest.mark.parametrize("family", sorted(TYPE))
def test_the_site_item_is_what_the_mapping_expects(family):
    """The site (hl7apy reads the message) and the suites' expectation (er7 splits it)
    agree on every attribute of the one table, and on the scheduled start."""
    factory = HL7MessageFactory(make_faker(21), VERSION[family])
    appointment = factory.appointment(START)
    message = factory.build(TYPE[family], factory.patient(), appointment)
    orders, worklist = _orders()
    orders.apply(parse(message.text))
    [item] = worklist.items
    for attribute, location in wm.mapping(family).items():
        expected = wm.normalise(attribute, er7.value(message.text, location))
        assert wm.normalise(attribute, _get(item, attribute)) == expected, attribute
    start = next(v for loc in wm.START[family] if (v := er7.value(message.text, loc)))
    sps = item.ScheduledProcedureStepSequence[0]
    observed = (
        sps.ScheduledProcedureStepStartDate,
        er7.dicom_time(sps.ScheduledProcedureStepStartTime),
    )
    assert observed == wm.dtm_to_dicom(start) == ("20300115", "140500")
    assert sps.ScheduledProcedureStepStatus == "SCHEDULED"


@pytest.mark.parametrize(
    ("start", "stored"),
    [
        ("203001151405", "1405"),  # the DTM's own precision (PS3.5 6.2 TM)
        ("2030011514", "1400"),  # an hour alone as HHMM
        ("20300115140509.25", "140509.25"),
        ("20300115", "000000"),  # Type 1: a date alone is midnight
        ("20300115140500+0200", "140500"),  # wall-clock time, offset dropped
    ],
)
def test_start_time_keeps_the_dtm_precision(start, stored):
    factory = HL7MessageFactory(make_faker(22), "2.5")
    message = factory.build("SIU^S12", times={f: start for f in ("SCH-11.4", "TQ1-7", "AIS-4")})
    orders, worklist = _orders()
    orders.apply(parse(message.text))
    [item] = worklist.items
    step = item.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20300115",
        stored,
    )


def test_cancel_can_be_switched_to_mark_while_running():
    factory = HL7MessageFactory(make_faker(23), "2.5")
    patient, appointment = factory.patient(), factory.appointment(START)
    orders, worklist = _orders()
    orders.apply(parse(factory.build("SIU^S12", patient, appointment).text))
    orders.cancel, orders.cancel_status = "mark", "CANCELLED_BY_RIS"
    orders.apply(parse(factory.build("SIU^S15", patient, appointment).text))
    [item] = worklist.items
    assert item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus == "CANCELLED_BY_RIS"


def test_a_bad_time_is_rejected_before_anything_is_applied():
    factory = HL7MessageFactory(make_faker(24), "2.5")
    orders, worklist = _orders()
    with pytest.raises(Rejected) as rejected:
        orders.apply(parse(factory.build("SIU^S12", times={"TQ1-7": "20300230140500"}).text))
    assert (rejected.value.code, rejected.value.location, rejected.value.condition) == (
        "AE",
        "TQ1-7",
        "102",
    )
    assert worklist.items == []


def test_ack_policy_refuses_the_header_and_answers_the_outcome():
    factory = HL7MessageFactory(make_faker(25), "2.5", pinned={"MSH-11": "X"})
    message = parse(factory.build("SIU^S12").text)
    policy = AckPolicy(FaultSet(), EVENTS)
    with pytest.raises(Rejected) as rejected:
        policy.accept(message)
    assert (rejected.value.code, rejected.value.location) == ("AR", "MSH-11")
    ack = Ack.read(policy.answer(message, Outcome.of(rejected.value)))
    assert (ack.msa_1, ack.msa_2) == ("AR", value(message, "MSH-10"))
    assert "202" in ack.err


def test_enhanced_mode_frames():
    factory = HL7MessageFactory(make_faker(26), "2.5")
    built = factory.build("SIU^S12", accept_ack_type="AL", application_ack_type="AL")
    frames = FrameReader().feed(AckPolicy(FaultSet(), EVENTS).answer(parse(built.text), Outcome()))
    assert [Ack.read(f.payload.decode()).msa_1 for f in frames] == ["CA", "AA"]


def test_malformed_bytes_and_the_hang_up_fault():
    assert malformed(b"PID|1") == ("MSH", "the message does not start with an MSH segment")
    problem = malformed(b"MSH|^^\\&|A")
    assert problem is not None and problem[0] == "MSH-2"
    connection = Connection(("127.0.0.1", 1))
    assert (
        AckPolicy(FaultSet({"hl7-no-ack-on-malformed"}), EVENTS).refuse_malformed(
            problem, connection
        )
        is None
    )
    assert connection.close
    ack = Ack.read(AckPolicy(FaultSet(), EVENTS).refuse_malformed(problem, Connection(("", 0))))
    assert (ack.msa_1, ack.msa_2) == ("AR", "")
