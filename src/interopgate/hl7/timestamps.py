"""HL7 v2 date/time grammar (TS / DTM) per version, with range checks.

Why a grammar of our own: hl7apy checks the *shape* of a TS value only loosely, and real
engines disagree at the edges (HAPI accepts hour 24 and 20240230, the NIST tools reject
them), so the harness needs one explicit, version-aware definition to judge a target by:

* 2.3, 2.3.1, 2.4 -- TS ``YYYY[MM[DD[HHMM[SS[.S[S[S[S]]]]]]]][+/-ZZZZ]^<degree of
  precision>``: hour and minute come as a pair (HL7 2.3.1 §2.8.44, 2.4 §2.A.77);
* 2.5, 2.5.1, 2.6 -- DTM ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`` (2.5 §2.A.22),
  TS = DTM ``^`` degree of precision (2.5 §2.A.74, the precision component deprecated);
* 2.7, 2.8 -- plain DTM (TS is withdrawn; no components).

``strict`` applies the calendar (month 01-12, day within the month incl. leap years,
hour 00-23, minute and second 00-59, offset -1200..+1400); ``strict=False`` is the
lenient reading of HAPI-like parsers (hour 24, day 01-31 in any month, offset hour 00-23).

The module also renders the timestamp *forms* a profile lists (``YYYYMMDDHHMM``,
``YYYYMMDDHHMMSS.SSSS+ZZZZ``, ``YYYYMMDDHH:MM:SS``, ...) for a given instant.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

PAIR_VERSIONS = ("2.3", "2.3.1", "2.4")
TS_VERSIONS = (*PAIR_VERSIONS, "2.5", "2.5.1", "2.6")
VERSIONS = (*TS_VERSIONS, "2.7", "2.8")

_CLAUSES = {
    "2.3": "HL7 2.3 §2.8.44 (TS)",
    "2.3.1": "HL7 2.3.1 §2.8.44 (TS)",
    "2.4": "HL7 2.4 §2.A.77 (TS)",
    "2.5": "HL7 2.5 §2.A.74 (TS), §2.A.22 (DTM)",
    "2.5.1": "HL7 2.5.1 §2.A.74 (TS), §2.A.22 (DTM)",
    "2.6": "HL7 2.6 §2A.74 (TS), §2A.22 (DTM)",
    "2.7": "HL7 2.7 §2A.22 (DTM)",
    "2.8": "HL7 2.8 §2A.22 (DTM)",
}
PRECISIONS = {"Y", "L", "D", "H", "M", "S"}  # HL7 table 0529 (TS.2 degree of precision)


class TimestampError(ValueError):
    """A value that does not conform; ``str()`` says which rule it breaks."""


@dataclass(frozen=True)
class Timestamp:
    """A parsed TS/DTM value. Fields after the value's precision are None."""

    text: str
    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    fraction: str | None = None
    offset: str | None = None  # "+HHMM" / "-HHMM"
    degree_of_precision: str | None = None

    @property
    def precision(self) -> str:
        """The finest unit present: year .. second, or fraction of a second."""
        for name in ("fraction", "second", "minute", "hour", "day", "month"):
            if getattr(self, name) is not None:
                return name
        return "year"


def grammar(version: str) -> str:
    """The value grammar of ``version``, as the standard writes it."""
    _known(version)
    if version in PAIR_VERSIONS:
        return "YYYY[MM[DD[HHMM[SS[.S[S[S[S]]]]]]]][+/-ZZZZ]"
    return "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]"


def clause(version: str) -> str:
    """Where ``version`` defines TS/DTM."""
    _known(version)
    return _CLAUSES[version]


def _known(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown HL7 version {version!r}; known: {', '.join(VERSIONS)}")


_SHAPE = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?P<hour>\d{2})?(?P<minute>\d{2})?"
    r"(?P<second>\d{2})?(?:\.(?P<fraction>\d{1,4}))?(?P<offset>[+-]\d{4})?"
)


def parse(value: str, version: str, *, strict: bool = True) -> Timestamp:
    """Parse a TS (or DTM) field value of ``version``; raise :class:`TimestampError`."""
    _known(version)
    text = value
    precision = None
    if "^" in value:
        if version not in TS_VERSIONS:
            raise TimestampError(
                f"{value!r}: HL7 {version} DTM has no components (TS.2 degree of precision "
                "exists up to 2.6 only)"
            )
        value, _, precision = value.partition("^")
        if precision and precision not in PRECISIONS:
            raise TimestampError(
                f"{text!r}: degree of precision {precision!r} is not in HL7 table 0529 "
                f"({'/'.join(sorted(PRECISIONS))})"
            )
    if not value:
        raise TimestampError("empty value: at least the year YYYY is required")
    match = _SHAPE.fullmatch(value)
    if match is None:
        raise TimestampError(f"{text!r} does not match {grammar(version)}")
    parts = match.groupdict()
    if parts["fraction"] is not None and parts["second"] is None:
        raise TimestampError(f"{text!r}: fractional seconds need SS before the '.'")
    if version in PAIR_VERSIONS and parts["hour"] is not None and parts["minute"] is None:
        raise TimestampError(
            f"{text!r}: HL7 {version} gives hour and minute as a pair (HHMM); "
            f"an hour alone is not allowed by {grammar(version)}"
        )
    stamp = Timestamp(
        text=text,
        year=int(parts["year"]),
        month=_int(parts["month"]),
        day=_int(parts["day"]),
        hour=_int(parts["hour"]),
        minute=_int(parts["minute"]),
        second=_int(parts["second"]),
        fraction=parts["fraction"],
        offset=parts["offset"],
        degree_of_precision=precision or None,
    )
    _check_ranges(stamp, strict)
    return stamp


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _check_ranges(ts: Timestamp, strict: bool) -> None:
    def bad(what: str, rule: str) -> TimestampError:
        return TimestampError(f"{ts.text!r}: {what} ({rule})")

    if ts.month is not None and not 1 <= ts.month <= 12:
        raise bad(f"month {ts.month:02d}", "01-12")
    if ts.day is not None and ts.month is not None:
        last = calendar.monthrange(ts.year, ts.month)[1] if strict else 31
        if not 1 <= ts.day <= last:
            raise bad(f"day {ts.day:02d}", f"01-{last} in {ts.year:04d}-{ts.month:02d}")
    if ts.hour is not None:
        top = 23 if strict else 24
        if ts.hour > top:
            raise bad(f"hour {ts.hour:02d}", f"00-{top}")
        if ts.hour == 24 and any(v for v in (ts.minute, ts.second)):
            raise bad("hour 24 with minutes or seconds", "24 means 2400 only")
    if ts.minute is not None and ts.minute > 59:
        raise bad(f"minute {ts.minute:02d}", "00-59")
    if ts.second is not None and ts.second > 59:
        raise bad(f"second {ts.second:02d}", "00-59")
    if ts.offset is not None:
        hours, minutes = int(ts.offset[1:3]), int(ts.offset[3:])
        if minutes > 59:
            raise bad(f"UTC offset minutes {ts.offset[3:]}", "00-59")
        if strict:
            limit = 14 if ts.offset[0] == "+" else 12
            if hours * 60 + minutes > limit * 60:
                raise bad(f"UTC offset {ts.offset}", "-1200 to +1400")
        elif hours > 23:
            raise bad(f"UTC offset hours {ts.offset[1:3]}", "00-23")


def is_valid(value: str, version: str, *, strict: bool = True) -> bool:
    try:
        parse(value, version, strict=strict)
    except TimestampError:
        return False
    return True


# --------------------------------------------------------------------------- forms

_TOKEN = re.compile(r"YYYY|MM|DD|HH|SS|\.S{1,4}|ZZZZ|T|[A-Za-z]+|.", re.DOTALL)


@dataclass(frozen=True)
class Form:
    """A timestamp form from a profile, e.g. ``YYYYMMDDHHMMSS.SS+ZZZZ`` or
    ``YYYYMMDDHH:MM:SS``: tokens YYYY MM DD HH MM SS .S-.SSSS ZZZZ, anything else literal.
    ``MM`` after ``HH`` is the minute, otherwise the month."""

    text: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Form:
        tokens: list[str] = []
        seen_hour = False
        for token in _TOKEN.findall(text):
            if token.isalpha() and token not in ("YYYY", "MM", "DD", "HH", "SS", "ZZZZ", "T"):
                raise ValueError(
                    f"timestamp form {text!r}: unknown token {token!r}; use YYYY MM DD HH MM "
                    "SS .S to .SSSS and +ZZZZ / -ZZZZ, other characters are literal"
                )
            if token == "HH":
                seen_hour = True
            if token == "MM":
                token = "mm" if seen_hour else "MM"
            tokens.append(token)
        if not text:
            raise ValueError("empty timestamp form")
        return cls(text, tuple(tokens))

    @property
    def has_offset(self) -> bool:
        return "ZZZZ" in self.tokens

    def render(self, when: dt.datetime) -> str:
        """``when`` in this form. The offset comes from ``when.tzinfo`` (UTC if naive); a
        form written ``-ZZZZ`` (or ``+ZZZZ``) gets the same instant at the mirrored offset
        when the sign differs, so both signs are really sent."""
        offset = when.utcoffset() or dt.timedelta(0)
        sign = next((t for t in self.tokens if t in "+-"), None) if self.has_offset else None
        if offset and sign and (sign == "-") != (offset < dt.timedelta(0)):
            when = when.astimezone(dt.timezone(-offset))
            offset = -offset
        minutes = int(offset.total_seconds() // 60)
        zzzz = f"{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        out = []
        for token in self.tokens:
            if token == "YYYY":
                out.append(f"{when.year:04d}")
            elif token == "MM":
                out.append(f"{when.month:02d}")
            elif token == "DD":
                out.append(f"{when.day:02d}")
            elif token == "HH":
                out.append(f"{when.hour:02d}")
            elif token == "mm":
                out.append(f"{when.minute:02d}")
            elif token == "SS":
                out.append(f"{when.second:02d}")
            elif token.startswith(".S"):
                out.append("." + f"{when.microsecond:06d}"[: len(token) - 1])
            elif token == "ZZZZ":
                out.append(zzzz)
            elif token in "+-" and "ZZZZ" in self.tokens:
                out.append("-" if minutes < 0 else "+")
            else:
                out.append(token)
        return "".join(out)


def compress_runs(rejected: set[int], sent: list[int]) -> list[tuple[int, int]]:
    """Runs of ``rejected`` values that are consecutive in the ``sent`` sequence:
    ``[(first, last), ...]`` -- minute ranges for a full sweep, sample ranges otherwise."""
    runs: list[tuple[int, int]] = []
    previous_rejected = False
    for value in sent:
        if value in rejected:
            if previous_rejected:
                runs[-1] = (runs[-1][0], value)
            else:
                runs.append((value, value))
        previous_rejected = value in rejected
    return runs


def hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
