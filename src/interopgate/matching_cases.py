"""C-FIND checks as lists of cases: queries on seeded data and the matches each must get.

A matching check (PS3.4 C.2.2.2) sends a few queries for one information model and fails
once, naming the first failing case: the query keys, the expected and the observed
matches among the seeded entities. A live target may hold more entities than were
seeded; only the seeded ones are judged. Besides the matches, a query must end with
final status 0000H (PS3.4 C.4.1.2.3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pytest
from pydicom.dataset import Dataset

from interopgate.dicom.query import FindSession, InformationModel, build_identifier, describe_query

Predicate = Callable[[Dataset], bool]


class SeededEntities(Protocol):
    """The seeded entities of each information model (fixtures/query_data.QueryData)."""

    def identities(self, model: str, predicate: Predicate | None = None) -> set[str]: ...

    def label(self, model: str, identity: str) -> str: ...


class Seeded(Protocol):
    """What the target was seeded with, or a skip when it could not be seeded for a model."""

    def require(self, model: str) -> SeededEntities: ...


@dataclasses.dataclass
class Case:
    """One query: its matching keys and which seeded entities must match."""

    what: str
    match: dict[str, Any]
    expected: Predicate
    charset: str | None = None  # Specific Character Set (0008,0005) of the query


def value(entity: Dataset, keyword: str) -> str:
    """An entity's value as text without padding (PS3.5 6.2: trailing spaces do not count)."""
    return str(entity.get(keyword, "") or "").strip()


def sps_value(entity: Dataset, keyword: str) -> str:
    """The value in a worklist item's first Scheduled Procedure Step (PS3.4 K.6.1.2.2)."""
    items = entity.get("ScheduledProcedureStepSequence") or []
    return value(items[0], keyword) if items else ""


def date_key(model: InformationModel) -> str:
    """The date attribute a range query of the model asks for (PS3.4 C.2.2.2.5)."""
    return {
        "study": "StudyDate",
        "patient": "PatientBirthDate",
        "worklist": "ScheduledProcedureStepStartDate",
    }[model.name]


def date_of(model: InformationModel, entity: Dataset) -> str:
    key = date_key(model)
    return sps_value(entity, key) if model.name == "worklist" else value(entity, key)


def _names(matches: Iterable[str], data: SeededEntities, model: str) -> str:
    shown = sorted(data.label(model, m) for m in matches)
    return "{" + ", ".join(shown) + "}" if shown else "no match"


def run_cases(check, device, seeded: Seeded, model: InformationModel, cases: list[Case]) -> None:
    """Send every case over one association; fail once with the first failing case (and
    the count of others). A model the SCP does not offer skips with its refusal."""
    data = seeded.require(model.name)
    known = data.identities(model.name)
    failures = []
    # A case the seeded data cannot express on this target (an item the HL7 feed could
    # not place, a key its mapping does not carry) is left out with the reason, alone.
    not_expressible = getattr(data, "not_expressible", lambda *_: None)
    left_out = []
    with FindSession(device, model) as session:
        for case in cases:
            reason = not_expressible(model.name, list(case.match), case.expected)
            if reason:
                left_out.append(f"{case.what}: {reason}")
                check.transcript.note(f"case not run: {case.what}: {reason}")
                continue
            identifier = build_identifier(model, case.match, charset=case.charset)
            outcome = session.find(identifier)
            if not outcome.accepted:
                pytest.skip(f"{model.label} not available: {outcome.refusal}")
            expected = data.identities(model.name, case.expected)
            observed = set(outcome.identities()) & known
            if observed != expected or outcome.final_status != "0000H":
                failures.append((case, identifier, expected, observed, outcome.final_status))
    if left_out and len(left_out) == len(cases):
        pytest.skip(f"no case can be judged on this target: {left_out[0]}")
    if failures:
        case, identifier, expected, observed, final = failures[0]
        more = f" ({len(failures) - 1} more case(s) failed too)" if len(failures) > 1 else ""
        difference = []
        if expected - observed:
            difference.append(f"missing {_names(expected - observed, data, model.name)}")
        if observed - expected:
            difference.append(f"unexpected {_names(observed - expected, data, model.name)}")
        check.fail(
            f"{model.label} {describe_query(identifier)}: {case.what}{more}",
            expected=f"{_names(expected, data, model.name)}, final status 0000H",
            observed=f"{_names(observed, data, model.name)}, final status {final}"
            + "".join(f"\n    {line}" for line in difference),
        )


class PatientRootStudies:
    """The seeded studies as Patient Root answers at STUDY level under a patient (its
    hierarchy, PS3.4 C.4.1.2.1): the identity of a match is its Study Instance UID."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded

    def require(self, model: str) -> SeededEntities:
        return _Studies(self.seeded.require("patient"))


class _Studies:
    def __init__(self, data: SeededEntities) -> None:
        self.data = data

    def identities(self, model: str, predicate: Predicate | None = None) -> set[str]:
        return self.data.identities("study", predicate)

    def label(self, model: str, identity: str) -> str:
        return self.data.label("study", identity)


# PS3.4 C.4.1.1.3.2: besides the requested keys an SCP may return these.
ALLOWED_EXTRA = {
    "SpecificCharacterSet",
    "QueryRetrieveLevel",
    "RetrieveAETitle",
    "InstanceAvailability",
    "StorageMediaFileSetID",
    "StorageMediaFileSetUID",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
}


def key_problems(request: Dataset, response: Dataset, path: str = "") -> list[str]:
    """Requested keys missing from a response (PS3.4 C.2.2.1.2), also inside sequence
    items, and keys it returned unasked beyond ALLOWED_EXTRA (C.4.1.1.3.2)."""
    problems = []
    for element in request:
        name = f"{path}{element.keyword} {element.tag}"
        if element.tag not in response:
            problems.append(f"{name} missing")
        elif element.VR == "SQ" and element.value and len(element.value[0]):
            for index, item in enumerate(response[element.tag].value):
                problems += key_problems(
                    element.value[0], item, f"{path}{element.keyword}[{index}]."
                )
    for element in response:
        if element.tag not in request and element.keyword not in ALLOWED_EXTRA:
            problems.append(f"{path}{element.keyword} {element.tag} returned but not requested")
    return problems


# --------------------------------------------------------------------------- C-CANCEL verdict

# A response is in flight when the SCP may have written it before it could see the
# C-CANCEL: up to IN_FLIGHT_FACTOR round trips (C-ECHO on the same association, PS3.7
# 9.1.5) after the cancel left, and never less than IN_FLIGHT_FLOOR (scheduling on a
# loaded host). PS3.7 9.3.2.3 sets no deadline, so an SCP that finishes the response it
# was writing is obeying too: LATE_ALLOWANCE responses past the window are tolerated.
IN_FLIGHT_FACTOR = 3
IN_FLIGHT_FLOOR = 0.020
LATE_ALLOWANCE = 2


@dataclasses.dataclass(frozen=True)
class CancelVerdict:
    """``passed``, ``failed`` or ``inconclusive``, with the numbers that decided it."""

    outcome: str
    reason: str
    window: float
    late: int  # pending responses provably sent after the window
    in_flight: int  # pending responses after the cancel, within the window
    final: str

    @property
    def worth_repeating(self) -> bool:
        """Inconclusive, or late but ended FE00H: the SCP did cancel, and a host too busy
        to schedule the SCP's reader (or the harness) for a few tens of ms makes an
        obedient SCP look late, while PS3.7 9.3.2.3 sets no deadline. Such a run is
        repeated; only an SCP late on every attempt fails, so the verdict does not turn
        on one unlucky run."""
        return self.outcome == "inconclusive" or (
            self.outcome == "failed" and self.final == "FE00H" and self.late > LATE_ALLOWANCE
        )


def in_flight_window(round_trip: float | None) -> float:
    """max(3 x round trip, 20 ms): how long after the C-CANCEL matches are in flight."""
    if round_trip is None:
        return IN_FLIGHT_FLOOR
    return max(IN_FLIGHT_FACTOR * round_trip, IN_FLIGHT_FLOOR)


def judge_cancel(run: Any, seeded: int) -> CancelVerdict:
    """Decide a C-CANCEL-FIND (PS3.7 9.3.2.3, PS3.4 C.4.1.2.3) from a
    :class:`interopgate.dicom.cancel.CancelRun`: failed when more than LATE_ALLOWANCE
    matches were provably sent after the in-flight window, or when the stream ends
    without FE00H (no final response, an error status); passed on FE00H otherwise;
    inconclusive when it ends 0000H with every match in flight (the SCP was done before
    the cancel could reach it) or when it never got far enough to cancel."""
    window = in_flight_window(run.round_trip)
    rtt = "unmeasured" if run.round_trip is None else f"{run.round_trip * 1000:.1f} ms"
    numbers = (
        f"round trip {rtt} ({run.round_trip_by}), in-flight window {window * 1000:.0f} ms "
        f"= max({IN_FLIGHT_FACTOR} x round trip, {IN_FLIGHT_FLOOR * 1000:.0f} ms)"
    )
    responses = run.responses
    final = responses[-1] if responses and responses[-1].status not in _PENDING else None
    final_text = "no final response" if final is None else f"{final.status:04X}H"
    pending = [r for r in responses if r.status in _PENDING]
    if run.cancel_sent is None:
        return CancelVerdict(
            "inconclusive",
            f"the stream ended ({len(pending)} of {seeded} seeded matches) before the "
            f"C-CANCEL went out; {numbers}",
            window,
            0,
            0,
            final_text,
        )
    rest = pending
    before = [r for r in rest if run.all_arrived_by(r) <= run.cancel_sent]
    after = [r for r in rest if r not in before]
    deadline = run.cancel_sent + window
    provable = run.kernel_queue and not run.flow_limited
    late = [r for r in after if run.sent_no_earlier_than(r) > deadline] if provable else []
    in_flight = len(after) - len(late)
    summary = (
        f"C-CANCEL sent as the first response arrived ({seeded} matches seeded); "
        f"{len(before)} match(es) had arrived before it left, {in_flight} arrived within the window (in flight), "
        f"{len(late)} were provably sent later; final {final_text}; {numbers}"
    )
    if final is None:
        return CancelVerdict("failed", summary, window, len(late), in_flight, final_text)
    if len(late) > LATE_ALLOWANCE:
        return CancelVerdict("failed", summary, window, len(late), in_flight, final_text)
    if final.status == 0xFE00:
        return CancelVerdict("passed", summary, window, len(late), in_flight, final_text)
    if final.status == 0x0000:
        why = (
            "every match after the cancel was in flight: the SCP had sent them before it "
            "could see the C-CANCEL, so nothing was left to cancel"
            if provable
            else "the arrival of the matches cannot be bounded (no FIONREAD here, or the "
            "receive queue filled up and TCP flow control held them back in the SCP), so "
            "in-flight matches cannot be told from ignored ones"
        )
        return CancelVerdict(
            "inconclusive", f"{why}; {summary}", window, len(late), in_flight, final_text
        )
    return CancelVerdict("failed", summary, window, len(late), in_flight, final_text)


_PENDING = (0xFF00, 0xFF01)
