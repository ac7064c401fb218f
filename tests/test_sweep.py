"""The sweep day and samples shared by the HL7 timestamp and workflow sweeps
(interopgate/sweep.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from interopgate import sweep
from tests.conftest import SUITES
from tests.junit import read_cases


def test_sample_is_one_minute_in_every_hour_at_both_extremes():
    assert len(sweep.SAMPLE_MINUTES) == 24
    assert [m // 60 for m in sweep.SAMPLE_MINUTES] == list(range(24))
    assert {m % 60 for m in sweep.SAMPLE_MINUTES} == {0, 59}
    assert list(range(1440)) == sweep.FULL_DAY


def test_instant_shows_every_unit():
    instant = sweep.INSTANT
    units = [instant.month, instant.day, instant.hour, instant.minute, instant.second]
    assert len(set(units)) == len(units) and 0 not in units and instant.microsecond
    assert instant.hour not in (8, 9) and instant.utcoffset() == dt.timedelta(hours=2)


def test_when_is_tomorrow_at_the_instant_or_at_a_minute():
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    at = sweep.when()
    assert at.date() == tomorrow and at.timetz() == sweep.INSTANT.timetz()
    at = sweep.when(23 * 60 + 59)
    assert at.date() == tomorrow
    assert (at.hour, at.minute, at.second, at.microsecond) == (23, 59, 0, 0)
    assert at.tzinfo == sweep.INSTANT.tzinfo


def test_minute_ranges_are_runs_in_the_sent_order():
    assert sweep.minute_ranges({480, 481, 482, 600}, list(range(1440))) == "08:00-08:02, 10:00"
    # Sampled: consecutive samples form one run, whatever the minutes between them.
    sampled = sweep.SAMPLE_MINUTES
    assert sweep.minute_ranges([sampled[8], sampled[9], sampled[12]], sampled) == (
        "08:00-09:59, 12:00"
    )
    assert sweep.minute_ranges([], sampled) == ""


PIPELINED = Path(__file__).parent / "profiles" / "valid" / "sweep-pipelined.yaml"


def test_a_pipelined_sweep_finds_what_a_one_by_one_sweep_finds(run_suites):
    """hl7.pipeline: 16 messages ahead of the oldest ACK on one connection: the octal-hours
    site refuses exactly 08:00-09:59 of the full day, as it does one message at a time,
    and the end-to-end sweep on the clean site still gets every item."""
    result, junit = run_suites(
        f"--profile={PIPELINED}",
        "--site-fault=hl7-octal-hours",
        "-m",
        "sweep",
        "--check=hl7.timestamp.sweep",
        suites=SUITES / "hl7" / "test_timestamps.py",
    )
    failed = [case for case in read_cases(junit) if case.outcome == "failed"]
    assert [case.properties["check"] for case in failed] == ["hl7.timestamp.sweep"]
    assert "08:00-09:59 (120 of 1440 minutes) rejected with MSA-1 AE" in failed[0].message
    result, junit = run_suites(
        f"--profile={PIPELINED}",
        "-m",
        "sweep",
        "--check=workflow.sweep.complete",
        suites=SUITES / "workflow" / "test_workflow.py",
    )
    assert result.ret == 0, result.stdout.str()
    assert {case.outcome for case in read_cases(junit)} == {"passed"}
