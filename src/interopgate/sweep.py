"""The instant and the minutes the HL7 timestamp and end-to-end workflow sweeps send.

A receiver that refuses only some appointment times (HL7 2.5 §2.A.74 TS, §2.A.22 DTM),
or turns only some of them into incomplete worklist items, fails intermittently: one
message proves little. The sweeps send the same appointment at many minutes of one day
and name the runs of minutes that went wrong, so both suites share the day, the sample
and the way runs are written -- and the time budget, so a slow engine ends in a report
of what was sent and refused, not in a timeout.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from interopgate.hl7.timestamps import compress_runs, hhmm

# Every unit distinct and non-zero, outside the 08/09 hours, with a UTC offset: a value
# whose rendering in any form shows which unit went where.
INSTANT = dt.datetime(2024, 9, 30, 14, 37, 25, 123400, tzinfo=dt.timezone(dt.timedelta(hours=2)))
# One minute per hour, :00 in even hours and :59 in odd ones: every hour, both minute
# extremes, 24 messages; ``-m sweep`` sends all of FULL_DAY.
SAMPLE_MINUTES = [hour * 60 + (59 if hour % 2 else 0) for hour in range(24)]
FULL_DAY = list(range(24 * 60))


def when(minute: int | None = None) -> dt.datetime:
    """INSTANT on tomorrow (a target may refuse appointments in the past); with
    ``minute``, that minute of the day (seconds and fraction zero, offset kept)."""
    day = dt.date.today() + dt.timedelta(days=1)
    moment = INSTANT.replace(year=day.year, month=day.month, day=day.day)
    if minute is not None:
        moment = moment.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    return moment


def minute_ranges(minutes: Iterable[int], sent: list[int]) -> str:
    """``08:00-09:59, 14:00``: the runs of ``minutes`` that are consecutive in ``sent``
    (minute ranges for a full sweep, runs of samples for a sampled one)."""
    return ", ".join(
        hhmm(first) if first == last else f"{hhmm(first)}-{hhmm(last)}"
        for first, last in compress_runs(set(minutes), sent)
    )


# A sweep's own time bound (profile hl7.sweep_budget) and the margin its per-test timeout
# adds: the last message may still wait for its connect and ACK, and the report must be
# written, before pytest-timeout would end the test with a bare traceback.
REPORT_MARGIN_S = 30.0


def timeout_for(budget: float, connect_timeout: float, ack_timeout: float) -> float:
    """The per-test timeout of a sweep with ``budget`` seconds: the budget, one more
    exchange at most (each wait is cut to the budget's rest, see :meth:`Budget.bound`)
    and the margin for the report."""
    return budget + connect_timeout + ack_timeout + REPORT_MARGIN_S


class Budget:
    """A time budget that started when it was made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def spent(self) -> bool:
        return self.elapsed() >= self.seconds

    def bound(self, wait: float) -> float:
        """``wait``, cut to what is left of the budget (never below 0.1 s)."""
        return max(0.1, min(wait, self.seconds - self.elapsed()))
