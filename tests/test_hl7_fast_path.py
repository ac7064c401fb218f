"""The site's fast HL7 path gives what hl7apy gives: values read by splitting
(hl7/er7.py Message) and ACKs written by joining fields (site/hl7_ack.build_ack) are
character for character those of hl7apy, and what only hl7apy reads goes to it."""

from __future__ import annotations

import itertools
import re

import pytest
from hl7apy.core import Message as Hl7apyMessage

from fixtures.hl7_messages import HL7MessageFactory, exists_in
from fixtures.patients import make_faker
from interopgate.hl7 import er7, messages
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import STRUCTURES, TIME_FIELDS
from interopgate.site import hl7_ack
from interopgate.site.hl7_listener import read

VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"]
LOCATIONS = sorted(
    {
        *(f"MSH-{n}" for n in range(1, 19)),
        "MSH-9.1",
        "MSH-9.2",
        "MSH-11.1",
        "MSH-12.1",
        *(loc for family in ("SIU", "ORM", "OMI") for loc in wm.mapping(family).values()),
        *(loc for fields in TIME_FIELDS.values() for loc in fields),
        *(loc for starts in wm.START.values() for loc in starts),
        *("SCH-1.1", "SCH-2.1", "ORC-1", "ORC-2", "ORC-3", "OBR-27.4", "PID-5.2", "PID-3.4"),
        *("AIS-3.1", "AIS-3.2", "AIS-3.3", "OBR-4.1", "OBR-4.2", "OBR-4.3", "PID-99", "ZZZ-1"),
    }
)


# Each (version, message type), built by hl7apy inside the test: building them all at
# import cost every xdist worker ~1.5 s of collection for tests only one of them runs.
CASES = [
    (version, message_type, trailing)
    for version, message_type in itertools.product(VERSIONS, sorted(set(STRUCTURES) - {"SIU^S13"}))
    if exists_in(message_type, version)
    for trailing in (False, True)
]


@pytest.mark.parametrize(
    ("version", "message_type", "trailing"),
    CASES,
    ids=[f"{v}-{t}{'-trailing-empty' if e else ''}" for v, t, e in CASES],
)
def test_split_values_are_hl7apys(version, message_type, trailing):
    text = HL7MessageFactory(make_faker(7), version).build(message_type).text
    if trailing:  # trailing empty components and subcomponents, which an encoder drops
        text = text.replace("\rPID|", "\rPID|1^^&&^|", 1)
    message = read(text)
    assert isinstance(message, er7.Message)  # plain ER7: the split path
    parsed = messages.parse(text)
    for location in LOCATIONS:
        assert message.value(location) == messages.value(parsed, location), location


@pytest.mark.parametrize(
    "text",
    [
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.5\rQQQ|1",  # no such segment
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.5\rZXX|1",  # a Z segment
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.5\rPID|1||\\X41\\",  # an escape
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.5^USA",  # MSH-12 with components
        "MSH|#~\\&|A|B|C|D|20240101||SIU#S12|X1|P|2.5",  # other separators
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.5\rPID|1|| x ",  # blanks
        "MSH|^~\\&|A|B|C|D|20240101||SIU^S12|X1|P|2.9",  # a version hl7apy lacks
    ],
)
def test_what_only_hl7apy_reads_goes_to_hl7apy(text):
    try:
        message = read(text)
    except Exception:
        return  # hl7apy refuses it: the listener answers AR, as before
    assert isinstance(message, Hl7apyMessage)


def test_ack_writer_is_hl7apys():
    def without_control_id(text: str) -> str:
        return re.sub(r"\|AC\d{17,}\|", "|ID|", text)

    for version, trigger, code, control_id, text, error, ack_types, ends in itertools.product(
        ["2.3", "2.4", "2.5", "2.7", "2.8"],
        ["", "S12"],
        ["AA"],
        ["", "X1"],
        ["reason x"],
        [None, ("MSH", "100", "r t"), ("SCH-11.4", "102", "bad ts"), ("MSH-9", "2", "a^b")],
        [None, ("NE", "NE")],
        [(("A", "B"), ("", "")), (("", ""), ("C", "D|E"))],
    ):
        kwargs = dict(
            sending=ends[0],
            receiving=ends[1],
            trigger=trigger,
            code=code,
            control_id=control_id,
            text=text,
            error=error,
            timestamp="20240101120000",
            ack_types=ack_types,
        )
        expected = messages.build_ack(version, **kwargs)
        assert without_control_id(hl7_ack.build_ack(version, **kwargs)) == without_control_id(
            expected
        ), kwargs
