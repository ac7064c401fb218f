"""C-FIND as the device sends it: identifiers, the response stream, C-CANCEL.

Checks need more than pynetdicom's ``send_c_find`` generator gives: whether each
response carried a data set on the wire (CommandDataSetType, PS3.7 E.1), the status
sequence, and how many matches arrived after a C-CANCEL. :func:`find` opens one
association per query through the device (so the transcript records it) and keeps all
of that in a :class:`FindOutcome`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import evt
from pynetdicom import sop_class as sop

SPS = "ScheduledProcedureStepSequence"
# Attributes of the Scheduled Procedure Step item (PS3.4 K.6.1.2.2, IHE RAD TF-2 RAD-5):
# a flat worklist query key with one of these names goes into the SPS item.
SPS_KEYWORDS = frozenset(
    {
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
        "ScheduledProtocolCodeSequence",
        "ScheduledProcedureStepID",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
        "ScheduledProcedureStepStatus",
        "PreMedication",
        "RequestedContrastAgent",
    }
)


@dataclass(frozen=True)
class InformationModel:
    name: str
    sop_class: str
    level: str | None  # Query/Retrieve Level; None for the worklist
    identity: str  # the key that tells responses apart

    @property
    def label(self) -> str:
        return {
            "study": "Study Root C-FIND",
            "patient": "Patient Root C-FIND",
            "worklist": "Modality Worklist C-FIND",
        }[self.name]


MODELS = {
    "study": InformationModel(
        "study", sop.StudyRootQueryRetrieveInformationModelFind, "STUDY", "StudyInstanceUID"
    ),
    "patient": InformationModel(
        "patient", sop.PatientRootQueryRetrieveInformationModelFind, "PATIENT", "PatientID"
    ),
    "worklist": InformationModel(
        "worklist", sop.ModalityWorklistInformationFind, None, "AccessionNumber"
    ),
}

# Defaults of the profile's target.max_find_responses / target.find_timeout: far above
# what a healthy target sends, low enough that a stream that never ends stops.
MAX_FIND_RESPONSES = 50_000
FIND_TIMEOUT = 300.0

_TODAY = re.compile(r"today(?:([+-])(\d+)d)?")


def resolve_dates(value: Any, today: dt.date | None = None) -> Any:
    """``today``, ``today+3d``, ``today-1d`` → YYYYMMDD, also inside ranges
    (``today-1d-today+1d`` → ``20240915-20240917``, PS3.4 C.2.2.2.5)."""
    if not isinstance(value, str):
        return value
    base = today or dt.date.today()

    def date_of(match: re.Match[str]) -> str:
        sign, days = match.groups()
        offset = int(days or 0) * (-1 if sign == "-" else 1)
        return (base + dt.timedelta(days=offset)).strftime("%Y%m%d")

    return _TODAY.sub(date_of, value)


def _path(key: str, worklist: bool) -> tuple[str | None, str]:
    """``Seq[0].Keyword`` → (Seq, Keyword); a bare SPS keyword of a worklist → (SPS, kw)."""
    match = re.fullmatch(r"(\w+)\[0\]\.(\w+)", key)
    if match:
        return match.group(1), match.group(2)
    if worklist and key in SPS_KEYWORDS:
        return SPS, key
    return None, key


def _put(ds: Dataset, keyword: str, value: Any) -> None:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword!r} is not a DICOM keyword (PS3.6)")
    vr = dictionary_VR(tag)
    if vr == "SQ":
        if keyword not in ds:
            ds.add_new(tag, vr, Sequence([] if value in (None, "") else value))
        return
    if keyword in ds and value in (None, ""):
        return  # a matching key already there stays
    with warnings.catch_warnings():
        # Checks send deliberately unusual values (a lowercase CS): the SCP must judge them.
        warnings.simplefilter("ignore", UserWarning)
        ds.add_new(tag, vr, None if value in (None, "") else value)


def build_identifier(
    model: InformationModel,
    match: Mapping[str, Any] | None = None,
    returns: Iterable[str] = (),
    *,
    charset: str | None = None,
) -> Dataset:
    """An identifier with ``match`` keys (values) and ``returns`` keys (zero-length).

    Keys are keywords or ``Sequence[0].Keyword``; for the worklist, SPS attributes may be
    given flat. ``today`` values are resolved (:func:`resolve_dates`).
    """
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    if model.level:
        ds.QueryRetrieveLevel = model.level
    worklist = model.level is None
    items: dict[str, Dataset] = {}
    entries = [(k, resolve_dates(v)) for k, v in (match or {}).items()]
    entries += [(k, None) for k in returns]
    for key, value in entries:
        sequence, keyword = _path(key, worklist)
        if sequence is None:
            _put(ds, keyword, value)
        else:
            item = items.setdefault(sequence, Dataset())
            _put(item, keyword, value)
    for sequence, item in items.items():
        ds.add_new(tag_for_keyword(sequence), "SQ", Sequence([item]))
    _put(ds, model.identity, None)
    return ds


@dataclass
class FindResponse:
    status: int
    identifier: Dataset | None
    has_data_set: bool  # CommandDataSetType != 0101H on the wire (PS3.7 E.1)
    arrived: float = 0.0  # time.monotonic() when the message was decoded off the wire


@dataclass
class FindOutcome:
    model: InformationModel
    request: Dataset
    accepted: bool = False
    refusal: str = ""
    responses: list[FindResponse] = field(default_factory=list)
    cancelled_after: int | None = None  # matches received when C-CANCEL was sent
    cancel_sent: float | None = None  # time.monotonic() of the C-CANCEL-FIND-RQ
    # What ended the exchange before a final response: the event and the wait, e.g.
    # "association aborted by the peer (A-ABORT source 2 ...) after 3 C-FIND responses"
    problem: str | None = None

    def pending_after_cancel(self) -> int:
        """Pending responses that reached us after the C-CANCEL was sent: the SCP sent
        them after it could have seen the cancel (give or take the round trip)."""
        if self.cancel_sent is None:
            return 0
        return sum(
            1
            for r in self.responses
            if r.status in (0xFF00, 0xFF01) and r.arrived > self.cancel_sent
        )

    @property
    def matches(self) -> list[Dataset]:
        return [
            r.identifier
            for r in self.responses
            if r.status in (0xFF00, 0xFF01) and r.identifier is not None
        ]

    @property
    def final(self) -> FindResponse | None:
        return self.responses[-1] if self.responses else None

    @property
    def final_status(self) -> str:
        final = self.final
        if self.problem:
            return f"none ({self.problem})"
        if final is None:
            return "no response"
        if final.status in (0xFF00, 0xFF01):
            return "no final response (stream ended after a pending response)"
        return f"{final.status:04X}H"

    def identities(self) -> list[str]:
        return [_text(m.get(self.model.identity)) for m in self.matches]


def _text(element_value: Any) -> str:
    value = getattr(element_value, "value", element_value)
    return "" if value is None else str(value).strip()


def describe_query(identifier: Dataset) -> str:
    """``PatientID="IG123" ScheduledProcedureStepSequence[Modality="CR"]`` (keys with a value)."""
    parts = []
    for element in identifier:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.VR == "SQ":
            inner = describe_query(element.value[0]) if element.value else ""
            if inner:
                parts.append(f"{element.keyword}[{inner}]")
        elif element.value not in (None, ""):
            value = element.value
            if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                value = "\\".join(str(v) for v in value)
            parts.append(f'{element.keyword}="{value}"')
    return " ".join(parts) or "(universal keys only)"


class FindSession:
    """One association for several C-FINDs of one information model (a check's cases);
    ``refusal`` says why there is none (context not accepted, association refused)."""

    def __init__(self, device, model: InformationModel) -> None:
        self.device = device
        self.model = model
        self.refusal = ""
        self._assoc = None
        self._stack = contextlib.ExitStack()
        self._message_id = 0
        self._wire_data: list[tuple[bool, float]] = []
        self._negotiation = None
        self._wrong_id: int | None = None  # a Message ID Being Responded To not ours
        self._lost: str | None = None  # the problem that ended the association
        target = getattr(getattr(device, "profile", None), "target", None)
        # Bounds against a peer whose pending responses never end (bounded memory/time).
        self.max_responses = getattr(target, "max_find_responses", MAX_FIND_RESPONSES)
        self.find_timeout = getattr(target, "find_timeout", FIND_TIMEOUT)

    def __enter__(self) -> FindSession:
        assoc, negotiation = self._stack.enter_context(
            self.device.associate([self.model.sop_class])
        )
        if not negotiation.established:
            self.refusal = negotiation.outcome()
            return self
        context_id, answer = negotiation.context(self.model.sop_class)
        if answer is None or answer.result != 0:
            self.refusal = f"presentation context {context_id} for {self.model.label} not accepted"
            return self
        assoc.bind(evt.EVT_DIMSE_RECV, self._on_dimse)
        self._assoc = assoc
        self._negotiation = negotiation
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _on_dimse(self, event: evt.Event) -> None:
        command = event.message.command_set
        if command.CommandField == 0x8020:  # C-FIND-RSP
            self._wire_data.append((command.CommandDataSetType != 0x0101, time.monotonic()))
            answered = command.get("MessageIDBeingRespondedTo")
            if answered != self._message_id and self._wrong_id is None:
                self._wrong_id = answered

    def _ended(self, assoc, received: int, *, timed_out: bool) -> str:
        """Why the response stream stopped, naming the event and the wait."""
        after = f"after {received} C-FIND response(s)"
        seen = self._negotiation.ended() if self._negotiation is not None else None
        if seen:
            return f"{seen} {after}"
        endpoint = getattr(self.device, "endpoint", None)
        wait = getattr(endpoint, "dimse_timeout", None)
        if timed_out and wait is not None:
            return (
                f"no C-FIND response within {wait:g} s (DIMSE timeout, target.dimse_timeout) "
                f"{after}"
            )
        return f"the association ended {after}"

    def _give_up(self, assoc, generator) -> None:
        """Stop reading a stream the harness refuses: close pynetdicom's generator, let
        its reactor run again (send_c_find paused it) and abort (PS3.8 7.3.1)."""
        with contextlib.suppress(Exception):
            generator.close()
        checkpoint = getattr(assoc, "_reactor_checkpoint", None)
        if checkpoint is not None:
            checkpoint.set()
        if self._negotiation is not None:
            self._negotiation.releasing = True
        if assoc.is_established:
            assoc.abort()

    def find(self, identifier: Dataset, *, cancel_after: int | None = None) -> FindOutcome:
        """Send one C-FIND; with ``cancel_after=n`` send a C-CANCEL-FIND-RQ once ``n``
        matches have arrived."""
        outcome = FindOutcome(self.model, identifier, refusal=self.refusal)
        assoc = self._assoc
        if assoc is None:
            outcome.refusal = outcome.refusal or "the association is no longer established"
            return outcome
        outcome.accepted = True
        seen = self._negotiation.ended() if self._negotiation is not None else None
        if self._lost or seen or not assoc.is_established or not assoc.is_alive():
            # Accepted earlier and lost since: a failure of this exchange, not a refusal.
            ended = self._lost or seen
            outcome.problem = f"the association was lost before this C-FIND ({ended or 'aborted'})"
            return outcome
        self.device.transcript.note(f"C-FIND {self.model.label}: {describe_query(identifier)}")
        self._message_id += 1
        self._wire_data = []
        self._wrong_id = None
        _quiesce_reactor(assoc)
        sop_class = self.model.sop_class
        deadline = time.monotonic() + self.find_timeout
        try:
            responses = assoc.send_c_find(identifier, sop_class, msg_id=self._message_id)
        except RuntimeError:
            # The peer ended the association between the check above and the request.
            checkpoint = getattr(assoc, "_reactor_checkpoint", None)
            if checkpoint is not None:
                checkpoint.set()
            outcome.problem = self._ended(assoc, 0, timed_out=False)
            return outcome
        for status, found in responses:
            if "Status" not in status:
                # aborted, closed or timed out: pynetdicom already aborted
                outcome.problem = self._ended(assoc, len(outcome.responses), timed_out=True)
                break
            outcome.responses.append(FindResponse(int(status.Status), found, False))
            if self._wrong_id is not None:
                outcome.problem = (
                    f"a C-FIND-RSP answered Message ID {self._wrong_id}, not the C-FIND-RQ's "
                    f"{self._message_id} (PS3.7 9.3.2.2, Message ID Being Responded To), "
                    f"after {len(outcome.responses) - 1} C-FIND response(s); association aborted"
                )
                self._give_up(assoc, responses)
                break
            if int(status.Status) not in (0xFF00, 0xFF01):
                continue
            if len(outcome.responses) >= self.max_responses:
                outcome.problem = (
                    f"more than {self.max_responses} pending C-FIND responses "
                    "(target.max_find_responses); association aborted"
                )
                self._give_up(assoc, responses)
                break
            if time.monotonic() > deadline:
                outcome.problem = (
                    f"no final C-FIND response within {self.find_timeout:g} s (target."
                    f"find_timeout) after {len(outcome.responses)} pending; association aborted"
                )
                self._give_up(assoc, responses)
                break
            if (
                cancel_after is not None
                and outcome.cancelled_after is None
                and len(outcome.matches) >= cancel_after
            ):
                outcome.cancelled_after = len(outcome.matches)
                outcome.cancel_sent = time.monotonic()
                self.device.transcript.note(f">> C-CANCEL-FIND-RQ for message {self._message_id}")
                assoc.send_c_cancel(self._message_id, query_model=sop_class)
        if outcome.problem:
            self._lost = self._lost or outcome.problem
            self.device.transcript.note(f"!! {outcome.problem}")
        for response, (had_data, arrived) in zip(outcome.responses, self._wire_data, strict=False):
            response.has_data_set, response.arrived = had_data, arrived
        return outcome


def _quiesce_reactor(assoc) -> None:
    """Make sure pynetdicom's association reactor is blocked before a C-FIND.

    ``send_c_find`` pauses the reactor by clearing a checkpoint and waiting for its
    ``_is_paused`` flag, but the flag is also True for the instant between the reactor
    passing the checkpoint and clearing the flag; a fast response can then be taken off
    the DIMSE queue by the reactor and the C-FIND waits for the DIMSE timeout (seen
    about once in a few hundred queries). Holding the checkpoint closed and seeing the
    flag stay True across one reactor period (1 ms) makes it rare; a reactor delayed
    longer than that (a loaded machine) is kept off responses by
    :func:`~interopgate.dicom.association.keep_responses_for_their_waiter`.
    """
    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    if checkpoint is None:
        return
    checkpoint.clear()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if assoc._is_paused:
            time.sleep(0.003)
            if assoc._is_paused:
                return
        time.sleep(0.0005)


def find(
    device, model: InformationModel, identifier: Dataset, *, cancel_after: int | None = None
) -> FindOutcome:
    """One C-FIND over its own association (see :class:`FindSession`)."""
    with FindSession(device, model) as session:
        return session.find(identifier, cancel_after=cancel_after)
