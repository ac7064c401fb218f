"""The TS/DTM grammar per HL7 version (hl7/timestamps.py): shapes, ranges, strictness."""

from __future__ import annotations

import datetime as dt

import pytest

from interopgate.hl7 import timestamps
from interopgate.hl7.timestamps import Form, TimestampError, compress_runs, parse

VALID_25 = [
    "2024",
    "202409",
    "20240930",
    "2024093008",  # hour alone: allowed from 2.5 on
    "202409300830",
    "20240930083015",
    "20240930083015.1",
    "20240930083015.1234",
    "20240930083015.1234+0200",
    "202409300830-0500",
    "20240229",  # leap year
    "20000229",  # divisible by 400
    "20240930235959",
    "20240930000000",
]
INVALID_25 = [
    ("", "empty"),
    ("24", "does not match"),
    ("2024093", "does not match"),  # odd digit count
    ("20240930 083015", "does not match"),
    ("2024093008:30:15", "does not match"),  # the seed vendor's HH:MM:SS
    ("2024-09-30T08:30:15", "does not match"),
    ("20240930083015.12345", "does not match"),  # 5 fractional digits
    ("20240930083015.", "does not match"),
    ("202409300830.12", "fractional seconds need SS"),
    ("20241330", "month 13"),
    ("20240030", "month 00"),
    ("20240230", "day 30"),
    ("20230229", "day 29"),  # not a leap year
    ("19000229", "day 29"),  # divisible by 100, not 400
    ("20240931", "day 31"),
    ("20240930240000", "hour 24"),
    ("20240930086000", "minute 60"),
    ("20240930083060", "second 60"),
    ("20240930083015+2400", "UTC offset +2400"),
    ("20240930083015+0160", "UTC offset minutes"),
    ("20240930083015-1300", "UTC offset -1300"),
    ("20240930083015+02", "does not match"),
]


@pytest.mark.parametrize("value", VALID_25)
@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6", "2.8"])
def test_valid_dtm(value, version):
    assert parse(value, version).text == value


@pytest.mark.parametrize(("value", "reason"), INVALID_25)
@pytest.mark.parametrize("version", ["2.3.1", "2.5", "2.5.1", "2.8"])
def test_invalid_values_say_why(value, reason, version):
    with pytest.raises(TimestampError, match=reason.replace("+", r"\+")):
        parse(value, version)


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4"])
def test_hour_and_minute_are_a_pair_before_25(version):
    with pytest.raises(TimestampError, match="hour and minute as a pair"):
        parse("2024093008", version)
    assert parse("202409300830", version).minute == 30
    assert timestamps.grammar(version) == "YYYY[MM[DD[HHMM[SS[.S[S[S[S]]]]]]]][+/-ZZZZ]"


def test_grammar_and_clause_by_version():
    assert timestamps.grammar("2.5") == "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]"
    assert "§2.A.74" in timestamps.clause("2.5")
    assert "§2.8.44" in timestamps.clause("2.3.1")
    assert "DTM" in timestamps.clause("2.8")
    with pytest.raises(ValueError, match="unknown HL7 version"):
        timestamps.grammar("3.0")


def test_ts_degree_of_precision_up_to_26_only():
    stamp = parse("20240930083015^S", "2.5")
    assert stamp.degree_of_precision == "S"
    assert parse("202409300830^M", "2.3.1").degree_of_precision == "M"
    with pytest.raises(TimestampError, match="table 0529"):
        parse("20240930^X", "2.5")
    with pytest.raises(TimestampError, match="no components"):
        parse("20240930083015^S", "2.8")


def test_lenient_reading_is_hapi_like():
    """HAPI accepts hour 24 (as 2400) and 30 February; strict (NIST-like) does not."""
    assert parse("202409302400", "2.5", strict=False).hour == 24
    assert parse("20240230", "2.5", strict=False).day == 30
    with pytest.raises(TimestampError, match="24 means 2400"):
        parse("202409302430", "2.5", strict=False)
    with pytest.raises(TimestampError, match="day 32"):
        parse("20240132", "2.5", strict=False)
    with pytest.raises(TimestampError, match="hour 25"):
        parse("2024093025", "2.5", strict=False)


def test_precision_names():
    assert parse("2024", "2.5").precision == "year"
    assert parse("202409300830", "2.5").precision == "minute"
    assert parse("20240930083015.12", "2.5").precision == "fraction"


WHEN = dt.datetime(2024, 9, 30, 8, 5, 9, 123400, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


@pytest.mark.parametrize(
    ("form", "rendered"),
    [
        ("YYYYMMDDHHMM", "202409300805"),
        ("YYYYMMDDHHMMSS", "20240930080509"),
        ("YYYYMMDDHHMMSS.S", "20240930080509.1"),
        ("YYYYMMDDHHMMSS.SSSS", "20240930080509.1234"),
        ("YYYYMMDDHHMMSS-ZZZZ", "20240930080509-0500"),
        ("YYYYMMDDHHMMSS+ZZZZ", "20240930180509+0500"),  # same instant, mirrored offset
        ("YYYYMMDDHHMMSS.SS-ZZZZ", "20240930080509.12-0500"),
        ("YYYYMMDDHH:MM:SS", "2024093008:05:09"),
        ("YYYY-MM-DD HH:MM:SS", "2024-09-30 08:05:09"),
        ("YYYY-MM-DDTHH:MM", "2024-09-30T08:05"),
        ("YYYYMMDD2400", "202409302400"),
        ("YYYY0230HHMM", "202402300805"),
    ],
)
def test_forms_render(form, rendered):
    assert Form.parse(form).render(WHEN) == rendered


def test_form_with_unknown_token_is_an_error():
    with pytest.raises(ValueError, match="unknown token 'hhmm'"):
        Form.parse("YYYYMMDDhhmm")


def test_every_form_of_the_profile_is_valid_and_every_rejected_one_invalid():
    from interopgate.profile import load_profile
    from tests.conftest import PROFILES

    hl7 = load_profile("agfa-cr", PROFILES).profile.hl7
    for form in hl7.timestamp_forms:
        assert timestamps.is_valid(Form.parse(form).render(WHEN), hl7.version), form
    for form in hl7.forms_rejected:
        assert not timestamps.is_valid(Form.parse(form).render(WHEN), hl7.version), form


def test_compress_runs_full_and_sampled():
    sent = list(range(1440))
    bad = set(range(8 * 60, 10 * 60)) | {0}
    assert compress_runs(bad, sent) == [(0, 0), (480, 599)]
    sample = [h * 60 for h in range(24)]
    assert compress_runs({480, 540}, sample) == [(480, 540)]
    assert timestamps.hhmm(599) == "09:59"
