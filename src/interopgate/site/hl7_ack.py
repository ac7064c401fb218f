"""The reference site's acknowledgment policy: whether a message is taken, and the ACKs
that answer it (HL7 2.5 §2.9).

A message that is not HL7 at all (no MSH, bad encoding characters) or that hl7apy cannot
parse gets an AR with an empty MSA-2; one whose MSH-9, MSH-11 or MSH-12 the site does not
take gets AR (table 0357 codes 200-203). Everything else is answered with the outcome
the order application (site/hl7_orders.py) reports: AA, or the AE/AR it raised as
:class:`Rejected`. Original mode (§2.9.2) gives one ACK; enhanced mode (§2.9.3, MSH-15
and MSH-16 set) a commit ACK and an application ACK as a second frame on the same
connection. The ``hl7`` faults of the ACK side (site/faults.py) hook in here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from hl7apy.core import Message as Hl7apyMessage

from interopgate.hl7 import er7, timestamps
from interopgate.hl7.messages import build_ack as hl7apy_build_ack
from interopgate.hl7.messages import new_control_id, now_ts
from interopgate.hl7.messages import value as hl7apy_value
from interopgate.hl7.mllp import Connection, decode
from interopgate.hl7.mllp import frame as mllp_frame
from interopgate.site.faults import FaultSet

Error = tuple[str, str, str]  # ERR: location, HL7 table 0357 code, text
AckBuilder = Callable[..., str]

SITE_APPLICATION = ("IG_PACS", "IG_SITE")
PROCESSING_IDS = {"P", "D", "T"}  # HL7 table 0103 (MSH-11.1)
DEFAULT_VERSION = "2.5"  # the ACK's version when the message's own is unknown


# A received message as the site reads it: ER7 split by location (hl7/er7.py), or an
# hl7apy parse for a message only hl7apy is trusted to read (site/hl7_listener.py).
Message = er7.Message | Hl7apyMessage


def value(message: Message, location: str) -> str:
    """The text at ``location`` ("" when absent), the same for either reading."""
    if isinstance(message, er7.Message):
        return message.value(location)
    return hl7apy_value(message, location)


# What a text the fast writer below would have to escape or split: the separators of
# HL7 2.5 §2.5.4 (and 2.7's truncation character), segment ends.
_SPECIAL = re.compile(r"[|^~\\&#\r\n]")
# The MSH-2 hl7apy writes for a version: from 2.7 on with the truncation character.
_ENCODING = {"2.7": "^~\\&#", "2.8": "^~\\&#"}


def build_ack(
    version: str,
    *,
    sending: tuple[str, str],
    receiving: tuple[str, str],
    trigger: str,
    code: str,
    control_id: str,
    text: str = "",
    error: Error | None = None,
    timestamp: str | None = None,
    ack_types: tuple[str, str] | None = None,
) -> str:
    """:func:`interopgate.hl7.messages.build_ack`'s ACK, character for character, written
    by joining fields: building it with hl7apy costs ~8 ms, a quarter of a sweep. A
    value with a separator or an escape in it (which an HL7 writer must split or escape,
    §2.7), a version the site does not answer in and a 2.8 ERR (whose fields hl7apy's
    2.8 tables place differently) go to hl7apy."""
    fields = [*sending, *receiving, trigger, code, control_id, text[:80], *(ack_types or ())]
    fields += [timestamp or "", *(error or ())]
    hl7apy_only = version not in timestamps.VERSIONS or (error is not None and version == "2.8")
    if hl7apy_only or any(_SPECIAL.search(f) for f in fields):
        return hl7apy_build_ack(
            version,
            sending=sending,
            receiving=receiving,
            trigger=trigger,
            code=code,
            control_id=control_id,
            text=text,
            error=error,
            timestamp=timestamp,
            ack_types=ack_types,
        )
    if not trigger:
        message_type = "ACK"
    else:
        message_type = f"ACK^{trigger}" if version == "2.3" else f"ACK^{trigger}^ACK"
    msh = [
        "MSH",
        _ENCODING.get(version, "^~\\&"),
        *sending,
        *receiving,
        timestamp or now_ts(),
        "",
        message_type,
        new_control_id("ACK"),
        "P",
        version,
    ]
    if ack_types is not None:
        msh += ["", "", *ack_types]
    msa = ["MSA", code, control_id]
    if text and version in ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"):
        msa.append(text[:80])
    lines = ["|".join(msh), "|".join(msa)]
    if error is not None:
        location, code_0357, err_text = error
        if version in ("2.3", "2.3.1", "2.4"):
            lines.append(f"ERR|{location}^^^{code_0357}&{err_text[:60]}&HL70357")
        else:
            where = location.replace("-", "^").replace(".", "^")
            lines.append(f"ERR||{where}|{code_0357}^{err_text[:60]}^HL70357|E")
    return "\r".join(lines)


class Rejected(Exception):
    """An ACK other than AA: code (AE/AR), error location, table 0357 code, text."""

    def __init__(self, code: str, location: str, condition: str, text: str) -> None:
        super().__init__(text)
        self.code, self.location, self.condition, self.text = code, location, condition, text

    @property
    def error(self) -> Error:
        """The ERR segment's (location, table 0357 code, text)."""
        return self.location, self.condition, self.text


@dataclass(frozen=True)
class Outcome:
    """What the site made of a message: the MSA-1 code and, unless AA, the error."""

    code: str = "AA"
    error: Error | None = None

    @classmethod
    def of(cls, rejected: Rejected) -> Outcome:
        return cls(rejected.code, rejected.error)


def malformed(data: bytes) -> tuple[str, str] | None:
    """(location, reason) when the bytes are not an HL7 message at all: no MSH first, or
    MSH-2 not four (five from 2.7) distinct non-alphanumeric delimiters (§2.5, §2.6)."""
    if not data.startswith(b"MSH"):
        return "MSH", "the message does not start with an MSH segment"
    header = data.split(b"\r", 1)[0]
    separator = header[3:4]
    chars = header[4:].split(separator, 1)[0] if separator else b""
    if (
        len(chars) not in (4, 5)
        or len(set(chars)) != len(chars)
        or separator in chars
        or any(chr(c).isalnum() for c in chars)
    ):
        return "MSH-2", f"encoding characters {chars!r} are not 4 distinct delimiters"
    return None


def reject_unparsed(
    reason: str, location: str = "MSH", condition: str = "100", control_id: str = ""
) -> str:
    """AR for a message that cannot be read: no MSH-10 to echo, so MSA-2 is empty;
    ERR names the location and the table 0357 code (100 segment sequence, 102 data
    type error)."""
    return build_ack(
        DEFAULT_VERSION,
        sending=SITE_APPLICATION,
        receiving=("", ""),
        trigger="",
        code="AR",
        control_id=control_id,
        text=reason,
        error=(location, condition, reason),
    )


def _wanted(condition: str, success: bool) -> bool:
    """Table 0155: AL always, NE never, ER on error/reject only, SU on success only."""
    return {"AL": True, "NE": False, "ER": not success, "SU": success}.get(condition, True)


class AckPolicy:
    """Acceptance of a message's header and the ACK frames for an outcome.

    ``events`` is what the order application applies ({MSH-9.1: {MSH-9.2, ...}}), so a
    message of another type or trigger event is refused here, before it is applied."""

    def __init__(self, faults: FaultSet, events: dict[str, set[str]]) -> None:
        self.faults = faults
        self.events = events

    # ---------------------------------------------------------------- before parsing

    def refuse_malformed(
        self, problem: tuple[str, str], connection: Connection, data: bytes = b""
    ) -> str | None:
        """The answer to bytes :func:`malformed` found ``problem`` (location, reason)
        with; None, and the connection closed, under hl7-no-ack-on-malformed."""
        location, reason = problem
        if "hl7-no-ack-on-malformed" in self.faults:
            connection.close = True  # the defect: hang up without a word
            return None
        msa_2 = ""
        if location == "MSH" and "hl7-msa-2-from-sch" in self.faults:
            first = decode(data.split(b"\r", 1)[0]).split("|")
            msa_2 = first[1].split("^")[0] if len(first) > 1 else ""  # the defect: SCH-1
        return reject_unparsed(reason, location, "100" if location == "MSH" else "102", msa_2)

    # ---------------------------------------------------------------- the header

    def accept(self, message: Message) -> bool:
        """Raise :class:`Rejected` (AR) when MSH-12, MSH-11 or MSH-9 is not one the site
        takes (table 0357: 203, 202, 200, 201); False when the message is to be answered
        AA without being applied (hl7-accepts-unknown-events)."""
        version = version_of(message)
        if version not in timestamps.VERSIONS:
            raise Rejected("AR", "MSH-12", "203", f"unsupported version {version!r}")
        processing = value(message, "MSH-11.1")
        if processing not in PROCESSING_IDS:
            raise Rejected("AR", "MSH-11", "202", f"unsupported processing ID {processing!r}")
        family, trigger = value(message, "MSH-9.1"), value(message, "MSH-9.2")
        if family not in self.events:
            raise Rejected("AR", "MSH-9.1", "200", f"unsupported message type {family!r}")
        known = self.events[family]
        if "hl7-known-events-rejected" in self.faults:
            known = {"S12"} if family == "SIU" else known
        if trigger not in known:
            if "hl7-accepts-unknown-events" in self.faults:
                return False  # the defect: AA, and the message is silently dropped
            raise Rejected("AR", "MSH-9.2", "201", f"unsupported event code {trigger!r}")
        return True

    # ---------------------------------------------------------------- the answer

    def answer(self, message: Message, outcome: Outcome) -> str | bytes | None:
        """The ACK(s) for ``outcome``: MSH-5/6 mirror MSH-3/4, MSA-2 echoes MSH-10; one
        original-mode ACK, or the enhanced-mode frames MSH-15/MSH-16 ask for."""
        version = version_of(message)
        answer_version = version if version in timestamps.VERSIONS else DEFAULT_VERSION
        colon_stamp = (
            dt.datetime.now().strftime("%Y%m%d %H:%M:%S")
            if "hl7-ack-colon-timestamp" in self.faults
            else None
        )
        control_id = value(message, "MSH-10")
        msa_2 = control_id
        if "hl7-wrong-msa-2" in self.faults:
            msa_2 = f"ACK{control_id[::-1]}"[:20]  # the defect: not the sender's MSH-10
        note = outcome.error[2] if outcome.error else ""

        def ack(code: str, error: Error | None, ack_types: tuple[str, str] | None = None) -> str:
            return self._header_defects(
                build_ack(
                    answer_version,
                    sending=(value(message, "MSH-5"), value(message, "MSH-6")),
                    receiving=(value(message, "MSH-3"), value(message, "MSH-4")),
                    trigger=value(message, "MSH-9.2"),
                    code=code,
                    control_id=msa_2,
                    text=note if error else "",
                    error=error,
                    timestamp=colon_stamp,
                    ack_types=ack_types,
                )
            )

        accept_ack, app_ack = value(message, "MSH-15"), value(message, "MSH-16")
        if not (accept_ack or app_ack) or "hl7-ignores-accept-ack-type" in self.faults:
            return ack(outcome.code, outcome.error)  # original mode (§2.9.2): AA/AE/AR
        return self._enhanced(ack, outcome, accept_ack, app_ack)

    def _header_defects(self, text: str) -> str:
        """The ACK header faults: MSH-9, MSH-10 and MSH-12 of the ACK the site built
        (HL7 2.5 §2.14.9.9, §2.14.9.10, §2.14.9.12) rewritten as the defect writes them."""
        if "hl7-bare-ack-message-type" in self.faults:
            text = er7.with_field(text, "MSH", 9, "ACK")
        if "hl7-constant-ack-control-id" in self.faults:
            text = er7.with_field(text, "MSH", 10, "ACK")
        if "hl7-ack-wrong-version" in self.faults:
            text = er7.with_field(text, "MSH", 12, "2.3")
        return text

    def _enhanced(
        self, ack: AckBuilder, outcome: Outcome, accept_ack: str, app_ack: str
    ) -> bytes | None:
        """Enhanced acknowledgment mode (HL7 2.5 §2.9.3; tables 0155, 0008). The accept
        (commit) ACK says whether the message was taken into safe storage: CR when its
        MSH-9, MSH-11 or MSH-12 is unacceptable (the site's AR cases), else CA -- an
        application error (AE) is no reason to refuse the commit. MSH-15 says when it is
        sent (AL always, NE never, ER only CE/CR, SU only CA). The application ACK
        (AA/AE/AR) follows as a separate message on the same connection when the message
        was committed and MSH-16 asks for it; it asks for no acknowledgment itself (NE/NE:
        acknowledging an acknowledgment would never end)."""
        code, error = outcome.code, outcome.error
        commit = "CR" if code == "AR" else "CA"
        sent_commit = commit
        if commit == "CR" and "hl7-commit-reject-as-ar" in self.faults:
            sent_commit = "AR"
        accept_when = accept_ack or "AL"
        if "hl7-accept-ack-always" in self.faults and accept_when in ("ER", "SU"):
            accept_when = "AL"  # the defect: ER/SU treated as AL
        application = (
            commit == "CA"
            and _wanted(app_ack or "NE", code == "AA")
            and "hl7-no-application-ack" not in self.faults
        )
        if application and "hl7-aa-as-commit-ack" in self.faults:
            sent_commit = "AA"  # the defect: an original-mode code where CA belongs
        frames = []
        if _wanted(accept_when, commit == "CA"):
            frames.append(ack(sent_commit, error if commit != "CA" else None))
        if application:
            frames.append(ack(code, error, ack_types=("NE", "NE")))
        return b"".join(mllp_frame(f) for f in frames) or None


def version_of(message: Message) -> str:
    """MSH-12.1, HL7 2.5 when the message leaves it empty."""
    return value(message, "MSH-12.1") or DEFAULT_VERSION
