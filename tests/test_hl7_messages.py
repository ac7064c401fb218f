"""The message factory (fixtures/hl7_messages.py) and hl7apy helpers (hl7/messages.py)."""

from __future__ import annotations

import pytest

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate.hl7.messages import (
    Ack,
    Location,
    ack_message_type_problems,
    build_ack,
    parse,
    time_fields,
    value,
)

TYPES = ["SIU^S12", "SIU^S14", "SIU^S15", "ORM^O01", "OMI^O23", "ADT^A04", "ADT^A08"]
VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("message_type", TYPES)
def test_every_type_in_every_version(message_type, version):
    factory = HL7MessageFactory(make_faker(1), version)
    if message_type == "OMI^O23" and version in ("2.3", "2.3.1", "2.4"):
        with pytest.raises(ValueError, match=r"from 2\.5 on"):
            factory.build(message_type)
        return
    message = factory.build(message_type, times={"MSH-7": "202409300830"})
    parsed = parse(message.text)
    assert value(parsed, "MSH-9.1") + "^" + value(parsed, "MSH-9.2") == message_type
    assert value(parsed, "MSH-10") == message.control_id
    assert value(parsed, "MSH-12") == version
    assert value(parsed, "MSH-7") == "202409300830"
    for location in time_fields(message_type, version):
        assert value(parsed, location), f"{location} empty in {message.text!r}"
    assert value(parsed, "PID-3.1").startswith("IG")


def test_tq1_only_from_25_and_sch_11_up_to_26():
    assert "TQ1-7" not in time_fields("SIU^S12", "2.4")
    assert {"TQ1-7", "SCH-11.4"} <= set(time_fields("SIU^S12", "2.5"))
    assert "SCH-11.4" not in time_fields("SIU^S12", "2.8")


def test_pinned_fields_and_ack_modes():
    factory = HL7MessageFactory(
        make_faker(2), "2.5", pinned={"MSH-5": "RIS", "MSH-6": "RADIOLOGY", "PID-3.4": "HOSP"}
    )
    message = factory.build("SIU^S12", accept_ack_type="AL", application_ack_type="NE")
    parsed = parse(message.text)
    assert (value(parsed, "MSH-5"), value(parsed, "MSH-6")) == ("RIS", "RADIOLOGY")
    assert message.receiving == ("RIS", "RADIOLOGY")
    assert value(parsed, "PID-3.4") == "HOSP"
    assert (value(parsed, "MSH-15"), value(parsed, "MSH-16")) == ("AL", "NE")
    with pytest.raises(ValueError, match="no ZZZ segment"):
        HL7MessageFactory(make_faker(2), "2.5", pinned={"ZZZ-1": "x"}).build("SIU^S12")


def test_charset_is_msh_18():
    message = HL7MessageFactory(make_faker(3), "2.5", charset="UNICODE UTF-8").build("ADT^A04")
    assert value(parse(message.text), "MSH-18") == "UNICODE UTF-8"


def test_variants_change_only_the_fields_and_the_control_id():
    factory = HL7MessageFactory(make_faker(4), "2.5")
    message = factory.build("SIU^S12")
    variants = factory.variants(message, ["SCH-11.4", "TQ1-7"])
    copy = variants.make({"SCH-11.4": "202409300800", "TQ1-7": "202409300800"}, "SW1")
    parsed = parse(copy.text)
    assert value(parsed, "SCH-11.4") == value(parsed, "TQ1-7") == "202409300800"
    assert value(parsed, "MSH-10") == copy.control_id == "SW1"
    assert value(parsed, "AIS-4") == message.times["AIS-4"]


def test_ack_mirrors_and_carries_err():
    text = build_ack(
        "2.5",
        sending=("PACS", "SITE"),
        receiving=("EHR", "HOSP"),
        trigger="S12",
        code="AE",
        control_id="C1",
        error=("TQ1-7", "102", "bad"),
    )
    ack = Ack.read(text)
    assert (ack.msh_3, ack.msh_4, ack.msh_5, ack.msh_6) == ("PACS", "SITE", "EHR", "HOSP")
    assert (ack.msa_1, ack.msa_2, ack.msh_9) == ("AE", "C1", "ACK^S12^ACK")
    assert "102^bad^HL70357" in ack.err
    with pytest.raises(ValueError, match="MSH"):
        Ack.read("MSA|AA|C1")


def test_locations():
    assert str(Location.parse("SCH-11.4")) == "SCH-11.4"
    assert Location.parse("PID-3.1.2").subcomponent == 2
    with pytest.raises(ValueError, match="not a field location"):
        Location.parse("PID3")


@pytest.mark.parametrize(
    ("msh_9", "version", "problems"),
    [
        ("ACK^S12^ACK", "2.5", []),
        ("ACK^^ACK", "2.5", []),  # the trigger may be left out of an acknowledgment
        ("ACK", "2.5", ["MSH-9.3 (absent), not ACK"]),
        ("ACK^S12", "2.4", ["MSH-9.3 (absent), not ACK"]),
        ("ACK^S14^ACK", "2.5", ["MSH-9.2 S14, not the trigger event acknowledged (S12)"]),
        ("ADT^S12^ACK", "2.5", ["MSH-9.1 ADT, not ACK"]),
        ("ACK", "2.3", []),
        ("ACK^S12", "2.3.1", []),
        ("ACK^S12^ACK", "2.3.1", []),
        ("ACK^S12^SIU_S12", "2.3.1", ["MSH-9.3 SIU_S12, not ACK"]),
    ],
)
def test_ack_message_type_per_version(msh_9, version, problems):
    assert ack_message_type_problems(msh_9, version, "S12") == problems


def test_site_acks_have_the_message_type_of_their_version():
    for version in ("2.3", "2.3.1", "2.4", "2.5", "2.6"):
        ack = build_ack(
            version,
            sending=("A", "B"),
            receiving=("C", "D"),
            trigger="S12",
            code="AA",
            control_id="C1",
        )
        assert ack_message_type_problems(Ack.read(ack).msh_9, version, "S12") == [], version


PINS = [
    {},
    {"MSH-5": "RIS", "MSH-6": "RADIOLOGY"},
    {"PID-3.1": "PINNED01", "PID-7": ""},  # a component, and a field pinned empty
    {"SCH-2.1": "ACC123", "OBR-18": "ACC123", "IPC-1": "ACC123", "EVN-1": "X"},
]


@pytest.mark.parametrize("pins", range(len(PINS)))
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("message_type", TYPES)
def test_fast_segments_write_what_hl7apy_writes(message_type, version, pins):
    """The factory's joined-text segments (the default, fast enough to feed hundreds of
    worklist items) and hl7apy Segments give the same ER7, byte for byte."""
    if message_type == "OMI^O23" and version in ("2.3", "2.3.1", "2.4"):
        return
    texts = []
    for reference in (False, True):
        factory = HL7MessageFactory(make_faker(7), version, charset="8859/1" if pins else "")
        factory.hl7apy_segments = reference
        family = message_type.split("^")[0]
        factory.pinned = {
            loc: text
            for loc, text in PINS[pins].items()
            if loc.split("-")[0] in ("MSH", "PID")
            or (family == "SIU" and loc.startswith("SCH"))
            or (family == "ORM" and loc.startswith("OBR"))
            or (family == "OMI" and loc.startswith("IPC"))
            or (family == "ADT" and loc.startswith("EVN"))
        }
        message = factory.build(
            message_type,
            times={"MSH-7": "20240930083000"},
            control_id="IG0001",
            accept_ack_type="AL",
            application_ack_type="NE",
        )
        texts.append(message.text)
    assert texts[0] == texts[1]


def test_fast_segments_refuse_a_field_the_version_lacks():
    factory = HL7MessageFactory(make_faker(1), "2.3")
    with pytest.raises(Exception):  # noqa: B017 - hl7apy's own error for the version
        factory._seg("SCH").sch_27 = "ACC"
    with pytest.raises(AttributeError):
        factory._seg("SCH").pid_3 = "X"
