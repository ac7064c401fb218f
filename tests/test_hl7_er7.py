"""ER7 by splitting (hl7/er7.py): locations, values on a message's own separators, and
HL7 DTM → DICOM DA/TM."""

from __future__ import annotations

import subprocess
import sys

import pytest

from interopgate.hl7 import er7
from interopgate.hl7.messages import parse
from interopgate.hl7.messages import value as hl7apy_value

SIU = (
    "MSH|^~\\&|EHR|HOSP|PACS|SITE|20240916060000||SIU^S12^SIU_S12|83469931|P|2.5\r"
    "SCH|P1|F1" + "|" * 9 + "^^15^20240930081500+0200" + "|" * 15 + "RP1|A1\r"
    "PID|1||331122^^^HOSP&1.2.3&ISO^MR~998877^^^OTHER^MR||DOE^John^Q||19700101|M"
)


def test_location_parse_and_str():
    assert er7.Location.parse("PID-3.4.2") == er7.Location("PID", 3, 4, 2)
    assert str(er7.Location.parse("SCH-11.4")) == "SCH-11.4"
    assert str(er7.Location("MSH", 10)) == "MSH-10"
    for bad in ("PID3", "pid-3", "PID-3.1.2.3", " PID-3", "PID-x"):
        assert not er7.is_location(bad)
        with pytest.raises(ValueError, match="not a field location"):
            er7.Location.parse(bad)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("MSH-1", "|"),
        ("MSH-2", "^~\\&"),
        ("MSH-3", "EHR"),
        ("MSH-9", "SIU^S12^SIU_S12"),
        ("MSH-9.2", "S12"),
        ("MSH-10", "83469931"),
        ("SCH-11.4", "20240930081500+0200"),
        ("PID-3", "331122^^^HOSP&1.2.3&ISO^MR"),  # first repetition only
        ("PID-3.4", "HOSP&1.2.3&ISO"),
        ("PID-3.4.2", "1.2.3"),
        ("PID-3.9", ""),
        ("PID-5.2", "John"),
        ("AIG-3", ""),  # no such segment
        ("PID-30", ""),  # beyond the last field
    ],
)
def test_value_by_splitting(location, expected):
    assert er7.value(SIU, location) == expected


def test_value_agrees_with_hl7apy():
    """The splitter and hl7apy read the same text at every location the mapping uses."""
    message = parse(SIU)
    for location in ("MSH-9.2", "MSH-10", "SCH-11.4", "SCH-27", "PID-3.1", "PID-5", "PID-7"):
        assert er7.value(SIU, location) == hl7apy_value(message, location), location


def test_value_uses_the_message_own_separators():
    text = "MSH#*@\\%#EHR#HOSP#####SIU*S12#1#P#2.5\rPID#1##A%B*C~E@D"
    assert er7.value(text, "MSH-1") == "#"
    assert er7.value(text, "MSH-9.2") == "S12"
    assert er7.value(text, "PID-3.1.2") == "B"
    assert er7.value(text, "PID-3.2") == "C~E"  # "~" is no separator here
    assert er7.value(text, "PID-3") == "A%B*C~E"


def test_value_without_a_header_is_empty():
    assert er7.value("PID|1||X", "PID-3") == ""
    assert er7.value("MSH|^~", "MSH-3") == ""
    assert er7.Separators.of("MSH|^~\\&|A") == er7.Separators()


@pytest.mark.parametrize(
    ("dtm", "expected"),
    [
        ("20240930081500+0200", ("20240930", "081500")),
        ("202409300815", ("20240930", "0815")),
        ("2024093008", ("20240930", "08")),
        ("20240930081525.1234-0500", ("20240930", "081525.1234")),
        ("20240930", ("20240930", "")),
        ("20240930081500^S", ("20240930", "081500")),  # TS: DTM ^ degree of precision
        ("20240930 08:15:00", ("20240930", "081500")),  # a vendor's colon form
        ("20240930T0815", ("20240930", "0815")),
    ],
)
def test_dicom_date_time_keeps_the_precision(dtm, expected):
    assert er7.dicom_date_time(dtm) == expected


@pytest.mark.parametrize(
    ("tm", "expected"),
    [("0815", "081500"), ("08", "080000"), ("08:15:00.5", "081500"), ("081525.1234", "081525")],
)
def test_dicom_time_compares_as_hhmmss(tm, expected):
    assert er7.dicom_time(tm) == expected
    assert er7.dicom_time("") == ""


def _loaded_by(module: str) -> set[str]:
    """The project's modules a fresh interpreter loads to import ``module``."""
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('interopgate.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_framing_builds_on_er7_alone():
    """MLLP framing reads MSH-10/MSA-2 with er7 and needs no message or mapping module."""
    assert _loaded_by("interopgate.hl7.er7") == {"interopgate.hl7", "interopgate.hl7.er7"}
    assert _loaded_by("interopgate.hl7.mllp") == {
        "interopgate.hl7",
        "interopgate.hl7.er7",
        "interopgate.hl7.mllp",
    }
