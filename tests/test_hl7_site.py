"""The HL7 side of the reference site: MLLP in, Modality Worklist out (IHE RAD SWF)."""

from __future__ import annotations

import datetime as dt
import re
import socket

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom import sop_class as sop

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate.hl7.messages import Ack
from interopgate.hl7.mllp import MLLPClient
from interopgate.site.pacs import ReferenceSite, SiteConfig
from tests.conftest import SUITES, interopgate_site
from tests.junit import read_cases

HL7_SUITES = SUITES / "hl7"

START = dt.datetime(2030, 1, 15, 14, 5)


@pytest.fixture
def site():
    with ReferenceSite(SiteConfig()) as running:
        yield running


def _send(site, message) -> Ack:
    with MLLPClient(*site.hl7_address, read_timeout=5) as client:
        exchange = client.send(message.text)
    return Ack.read(exchange.reply_text)


def _find_worklist(site, **keys) -> list[Dataset]:
    query = Dataset()
    query.PatientID = ""
    query.PatientName = ""
    query.AccessionNumber = ""
    sps = Dataset()
    sps.Modality = ""
    sps.ScheduledStationAETitle = ""
    sps.ScheduledProcedureStepStartDate = ""
    sps.ScheduledProcedureStepStartTime = ""
    sps.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [sps]
    for key, value in keys.items():
        setattr(query, key, value)
    ae = AE(ae_title="AGFA_CR1")
    ae.add_requested_context(sop.ModalityWorklistInformationFind)
    assoc = ae.associate(*site.dicom_address, ae_title="IG_PACS")
    try:
        return [
            ds
            for status, ds in assoc.send_c_find(query, sop.ModalityWorklistInformationFind)
            if ds is not None
        ]
    finally:
        assoc.release()


@pytest.mark.parametrize("version", ["2.3.1", "2.4", "2.5", "2.5.1"])
def test_siu_create_update_cancel_drives_the_worklist(site, version):
    factory = HL7MessageFactory(make_faker(7), version)
    patient = factory.patient()
    appointment = factory.appointment(START)
    ack = _send(site, factory.build("SIU^S12", patient, appointment))
    assert ack.msa_1 == "AA", ack.text
    [item] = _find_worklist(site, PatientID=patient.patient_id)
    assert str(item.PatientName) == f"{patient.family_name}^{patient.given_name}"
    step = item.ScheduledProcedureStepSequence[0]
    assert step.Modality == "CR"
    assert step.ScheduledStationAETitle == "AGFA_CR1"
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20300115",
        "140500",
    )
    assert step.ScheduledProcedureStepID == appointment.scheduled_procedure_step_id
    if version not in ("2.3.1",):
        assert item.AccessionNumber == appointment.accession_number

    moved = factory.appointment(START + dt.timedelta(hours=2))
    moved = type(moved)(**{**appointment.__dict__, "start": moved.start})
    assert _send(site, factory.build("SIU^S14", patient, moved)).msa_1 == "AA"
    [item] = _find_worklist(site, PatientID=patient.patient_id)
    assert item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "160500"

    assert _send(site, factory.build("SIU^S15", patient, moved)).msa_1 == "AA"
    assert _find_worklist(site, PatientID=patient.patient_id) == []


def test_resend_is_acknowledged_and_applied_once(site):
    factory = HL7MessageFactory(make_faker(8), "2.5")
    message = factory.build("SIU^S12")
    assert [_send(site, message).msa_1 for _ in range(2)] == ["AA", "AA"]
    assert len(site.worklist) == 1


def test_orders_and_patient_update(site):
    factory = HL7MessageFactory(make_faker(9), "2.5")
    patient = factory.patient()
    for message_type in ("ORM^O01", "OMI^O23"):
        appointment = factory.appointment(START)
        assert _send(site, factory.build(message_type, patient, appointment)).msa_1 == "AA"
    items = _find_worklist(site, PatientID=patient.patient_id)
    assert len(items) == 2
    assert {i.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime for i in items} == {
        "140500"
    }
    renamed = type(patient)(**{**patient.__dict__, "family_name": "RENAMED"})
    assert _send(site, factory.build("ADT^A08", renamed)).msa_1 == "AA"
    names = {str(i.PatientName) for i in _find_worklist(site, PatientID=patient.patient_id)}
    assert names == {f"RENAMED^{patient.given_name}"}
    cancel = factory.build("ORM^O01", patient, appointment, order_control="CA")
    assert _send(site, cancel).msa_1 == "AA"


@pytest.mark.parametrize(
    ("accept", "application", "refused", "expected"),
    [
        ("", "", False, ["AA"]),  # original mode (§2.9.2)
        ("", "", True, ["AR"]),
        ("AL", "NE", False, ["CA"]),
        ("AL", "NE", True, ["CR"]),
        ("NE", "NE", False, []),
        ("ER", "NE", False, []),
        ("ER", "NE", True, ["CR"]),
        ("SU", "NE", False, ["CA"]),
        ("SU", "NE", True, []),
        ("AL", "AL", False, ["CA", "AA"]),  # commit ACK, then the application ACK
        ("NE", "AL", False, ["AA"]),
        ("AL", "AL", True, ["CR"]),  # not committed: nothing to apply, no application ACK
        ("AL", "ER", False, ["CA"]),
        ("AL", "SU", False, ["CA", "AA"]),
    ],
)
def test_acknowledgment_modes(site, accept, application, refused, expected):
    """HL7 2.5 §2.9.3, tables 0155 and 0008: which ACKs come back, in order."""
    factory = HL7MessageFactory(make_faker(13), "2.5", pinned={"MSH-11": "X"} if refused else {})
    message = factory.build("SIU^S12", accept_ack_type=accept, application_ack_type=application)
    codes = []
    with MLLPClient(*site.hl7_address, read_timeout=0.3) as client:
        exchange = client.send(message.text)
        while exchange.reply is not None:
            ack = Ack.read(exchange.reply_text)
            assert ack.msa_2 == message.control_id
            codes.append(ack.msa_1)
            exchange = client.receive(timeout=0.3)
    assert codes == expected


def test_invalid_time_is_rejected_with_the_field_and_clause(site):
    factory = HL7MessageFactory(make_faker(10), "2.5")
    message = factory.build("SIU^S12", times={"TQ1-7": "20300230140500"})
    ack = _send(site, message)
    assert ack.msa_1 == "AE"
    assert "TQ1" in ack.err and "day 30" in ack.err
    assert site.worklist == []


def test_octal_hours_fault_rejects_exactly_08_and_09():
    factory = HL7MessageFactory(make_faker(11), "2.5")
    with ReferenceSite(SiteConfig(faults=frozenset({"hl7-octal-hours"}))) as site:
        codes = {}
        for hour in (7, 8, 9, 10):
            when = START.replace(hour=hour)
            times = {f: when.strftime("%Y%m%d%H%M%S") for f in ("SCH-11.4", "TQ1-7", "AIS-4")}
            codes[hour] = _send(site, factory.build("SIU^S12", times=times)).msa_1
    assert codes == {7: "AA", 8: "AE", 9: "AE", 10: "AA"}


# --------------------------------------------------------------------------- live targets


def _live(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text("extends: agfa-cr\n" + body)
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hl7_suites_against_a_separate_site(run_suites, tmp_path):
    """A site the run did not start: the HL7 suites reach it through hl7_port."""
    with ReferenceSite(SiteConfig()) as other:
        host, port = other.dicom_address
        profile = _live(
            tmp_path,
            "with-hl7",
            f"target: {{kind: live, host: {host}, dicom_port: {port}, "
            f"hl7_port: {other.hl7_address[1]}, called_ae: IG_PACS}}\n",
        )
        result, junit = run_suites(f"--profile={profile}", suites=HL7_SUITES)
    cases = [c for c in read_cases(junit) if c.properties.get("check", "").startswith("hl7.")]
    assert result.ret == 0, result.stdout.str()
    assert len([c for c in cases if c.outcome == "passed"]) >= 15


def test_dicom_only_live_target_skips_hl7_checks_with_one_line(run_suites, tmp_path):
    with ReferenceSite(SiteConfig()) as other:
        host, port = other.dicom_address
        profile = _live(
            tmp_path,
            "dicom-only",
            f"target: {{kind: live, host: {host}, dicom_port: {port}, called_ae: IG_PACS}}\n",
        )
        result, junit = run_suites(f"--profile={profile}", suites=HL7_SUITES)
    assert result.ret == 0, result.stdout.str()
    hl7 = [c for c in read_cases(junit) if c.properties.get("check", "").startswith("hl7.")]
    assert hl7 and all(c.outcome == "skipped" for c in hl7)
    assert "the target has no HL7 (MLLP) address" in hl7[0].message


def test_unreachable_hl7_port_is_one_clear_line(run_suites, tmp_path):
    with ReferenceSite(SiteConfig()) as other:
        host, port = other.dicom_address
        profile = _live(
            tmp_path,
            "hl7-down",
            f"target: {{kind: live, host: {host}, dicom_port: {port}, "
            f"hl7_port: {_closed_port()}, called_ae: IG_PACS}}\n",
        )
        result, _ = run_suites(f"--profile={profile}", suites=HL7_SUITES)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3
    assert "cannot reach the HL7 (MLLP) target at 127.0.0.1:" in output
    assert "connection refused" in output
    assert "Traceback" not in output


def test_interopgate_site_prints_and_serves_the_hl7_port():
    """`interopgate site` as a person starts it: the first line names the MLLP port too."""
    with interopgate_site() as (process, line):
        match = re.search(r"HL7 \(MLLP\) ([\d.]+):(\d+)", line)
        assert match, line
        factory = HL7MessageFactory(make_faker(12), "2.5")
        with MLLPClient(match.group(1), int(match.group(2)), read_timeout=5) as client:
            exchange = client.send(factory.build("SIU^S12").text)
        assert Ack.read(exchange.reply_text).msa_1 == "AA"
        assert "hl7_port:" in process.stdout.readline() + process.stdout.readline()
