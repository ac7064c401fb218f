"""Unit tests of the HL7 worklist feed's parts: an item as an order (the site's mapping
decides where each value goes), the cases left out when an item did not arrive, the
xdist lease, and the per-area summary."""

from __future__ import annotations

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from fixtures.query_data import make_query_data
from interopgate import seeding
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.er7 import value
from interopgate.plugin.reporting import Tally, area_lines, area_of
from interopgate.profile import Profile
from interopgate.workflow import Flow

SEED = 20240916


def _data():
    return make_query_data(make_faker(SEED), SEED, modality="CR", station_ae="AGFA_CR1")


def _message(item, overrides=None, messages=("SIU^S12",), encoding=""):
    profile = Profile.model_validate(
        {
            "name": "unit",
            "device": {"ae_title": "AGFA_CR1", "modality": "CR"},
            "hl7": {"messages": list(messages), "to_worklist": overrides or {}},
        }
    )
    factory = HL7MessageFactory(make_faker(1), "2.5", charset=encoding)
    flow = Flow(profile, None, factory, None, None)
    feed = seeding.WorklistFeed(("127.0.0.1", 1)).configure(profile, factory, None)
    order = seeding.order_of(item, flow.mapping, encoding, factory)
    return feed._build(flow, "create", order), order


def test_item_values_travel_at_the_sites_locations():
    data = _data()
    lower = next(i for i in data.worklist() if str(i.PatientID).startswith("ig"))
    message, _ = _message(lower, {"SIU": {"AccessionNumber": "SCH-2.1"}})
    text = message.text
    assert value(text, "SCH-2.1") == lower.AccessionNumber  # the site's placement
    assert value(text, "PID-3.1") == lower.PatientID  # lowercase kept
    assert value(text, "PID-5") == str(lower.PatientName)
    step = lower.ScheduledProcedureStepSequence[0]
    assert value(text, "AIG-4.1") == step.Modality
    assert value(text, "AIG-3.1") == step.ScheduledStationAETitle
    start = f"{step.ScheduledProcedureStepStartDate}{step.ScheduledProcedureStepStartTime}"
    assert value(text, "TQ1-7") == start


def test_order_messages_carry_the_item_in_obr():
    item = _data().worklist()[0]
    message, _ = _message(item, messages=("ORM^O01",))
    assert message.message_type == "ORM^O01"
    assert value(message.text, "ORC-1") == "NW"
    assert value(message.text, wm.ORDER["ORM"]["AccessionNumber"]) == item.AccessionNumber


def test_non_ascii_names_travel_with_msh_18():
    data = _data()
    utf8 = next(i for i in data.worklist() if i.SpecificCharacterSet == "ISO_IR 192")
    message, order = _message(utf8)
    assert order[3] == "UNICODE UTF-8"
    assert value(message.text, "MSH-18") == "UNICODE UTF-8"
    assert value(message.text, "PID-5") == str(utf8.PatientName)


def test_a_case_is_left_out_only_when_every_entity_it_expects_is_missing():
    data = _data()
    latin1 = data.role("latin1")
    data.unseeded["worklist"] = {latin1.accession: "SIU^S12 not accepted (MSA-1 CR)"}
    only_latin1 = data.not_expressible(
        "worklist", ["PatientName"], lambda e: e.AccessionNumber == latin1.accession
    )
    assert only_latin1 and "not on the target: SIU^S12 not accepted" in only_latin1
    assert data.not_expressible("worklist", ["PatientName"], lambda e: True) is None
    assert latin1.accession not in data.identities("worklist")
    data.carried, data.carried_by = {"PatientID"}, "the site's SIU mapping"
    lost = data.not_expressible("worklist", ["ScheduledStationAETitle"], lambda e: True)
    assert lost == "ScheduledStationAETitle does not travel through the site's SIU mapping"


def test_lease_counts_workers(tmp_path):
    lease = seeding.FeedLease(tmp_path / "count")
    with lease.take() as holders:
        assert holders == 1
    with lease.take() as holders:
        assert holders == 2
    with lease.give_back() as holders:
        assert holders == 1
    with lease.give_back() as holders:
        assert holders == 0
    with seeding.FeedLease(None).give_back() as holders:
        assert holders == 0  # no xdist: this process is the last


def test_area_summary():
    assert area_of("dicom.worklist.sps_sequence") == "worklist"
    assert area_of("dicom.find.cancel") == "find"
    assert area_of("workflow.create.complete") == "workflow"
    tally = Tally()
    tally.outcomes = {
        "a": ("worklist", "passed", ""),
        "b": ("find", "passed", ""),
        "c": ("find", "skipped", "x"),
        "d": ("find", "skipped", "x"),
        "e": ("find", "skipped", "y"),
    }
    tally.not_applicable["retrieve"] = 1
    assert area_lines(tally) == [
        "find: 1 run (1 passed); 3 skipped (most common, 2 of 3: x)",
        "retrieve: 0 run; 0 skipped; 1 not applicable",
        "worklist: 1 run (1 passed); 0 skipped",
    ]
