"""The HL7 side of the reference site: an MLLP listener that feeds the worklist.

It plays the RIS/PACS order filler of IHE RAD SWF: it accepts SIU^S12/S14/S15 (HL7 2.5
ch. 10), ORM^O01 and OMI^O23 (ch. 4, IHE RAD-2/RAD-4) and ADT^A04/A08 (ch. 3). This
module owns the socket side and the order of events for one frame: bytes that are no
HL7 message, a parse, the header's acceptance and the ACKs (site/hl7_ack.py), the
worklist change (site/hl7_orders.py) -- and the receiving-side faults (framing, the
re-delivery of earlier messages, MSH-2 not read), which no other layer could commit.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable

from hl7apy import SUPPORTED_LIBRARIES, load_library
from pydicom.dataset import Dataset

from interopgate.hl7 import er7, timestamps
from interopgate.hl7 import messages as hl7apy_messages
from interopgate.hl7.mllp import CR, FS, Connection, Frame, FrameReader, MLLPListener, decode
from interopgate.hl7.mllp import frame as mllp_frame
from interopgate.site.faults import FaultSet
from interopgate.site.hl7_ack import (
    AckPolicy,
    Message,
    Outcome,
    Rejected,
    malformed,
    reject_unparsed,
    value,
)
from interopgate.site.hl7_orders import EVENTS, OrderApplication

log = logging.getLogger("interopgate.site.hl7")


class HL7Interface:
    """The site's MLLP listener. ``worklist_add`` / ``worklist_remove`` change the
    site's worklist (ReferenceSite methods), so this module needs no PACS internals."""

    def __init__(
        self,
        worklist_add: Callable[[list[Dataset]], None],
        worklist_remove: Callable[[list[Dataset]], None],
        faults: FaultSet | Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = True,
        cancel: str = "remove",
        cancel_status: str = "CANCELED",
        ssl_context: object = None,  # MLLP over TLS: site/security.py's context
    ) -> None:
        self.faults = faults if isinstance(faults, FaultSet) else FaultSet(faults)
        self.acks = AckPolicy(self.faults, EVENTS)
        self.orders = OrderApplication(
            worklist_add,
            worklist_remove,
            self.faults,
            strict=strict,
            cancel=cancel,
            cancel_status=cancel_status,
        )
        self.received: list[str] = []
        self._lock = threading.Lock()
        reader = (
            FirstByteUncheckedReader if "hl7-first-byte-unchecked" in self.faults else FrameReader
        )
        if "hl7-dies-without-msh" in self.faults:
            reader = functools.partial(DiesWithoutMSHReader, self.stop)
        self._listener = MLLPListener(
            self.handle, host, port, reader=reader, ssl_context=ssl_context
        )

    @property
    def cancel(self) -> str:
        """What a cancel does: "remove" the item, or "mark" it (profile hl7.cancel)."""
        return self.orders.cancel

    @cancel.setter
    def cancel(self, mode: str) -> None:
        self.orders.cancel = mode

    @property
    def cancel_status(self) -> str:
        """The Scheduled Procedure Step Status of a marked cancel (PS3.3 C.4.10)."""
        return self.orders.cancel_status

    @cancel_status.setter
    def cancel_status(self, status: str) -> None:
        self.orders.cancel_status = status

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    def start(self) -> HL7Interface:
        self._listener.start()
        log.info("reference site HL7 (MLLP) on %s:%s", *self.address)
        return self

    def stop(self) -> None:
        self._listener.stop()

    def handle(self, frame: Frame, connection: Connection) -> str | bytes | None:
        """One frame in, the reply out (a message, raw frames, or None for none). The
        faults of the receiving side hook in here: re-delivery of a connection's earlier
        frames, unframed bytes taken for a message (MLLP Appendix C.4.3 says ignore them)."""
        frames = [frame]
        if "hl7-unframed-bytes-processed" in self.faults and frame.leading_junk:
            junk = frame.leading_junk.rstrip(CR).removesuffix(FS)
            frames.insert(0, Frame(junk[junk.find(b"MSH") :] if b"MSH" in junk else junk))
        if "hl7-redelivers-earlier-messages" in self.faults:
            earlier = connection.state.setdefault("earlier", [])
            earlier.extend(frames)  # the defect: the buffer is never cleared
            frames = list(earlier)
        replies = [self._answer(each, connection) for each in frames]
        if len(frames) == 1:
            return replies[0]
        data = b"".join(
            mllp_frame(reply) if isinstance(reply, str) else reply
            for reply in replies
            if reply is not None
        )
        return data or None

    def _answer(self, frame: Frame, connection: Connection) -> str | bytes | None:
        """The site's answer to one message: refused unread, refused for its header, or
        applied and acknowledged (site/hl7_ack.py)."""
        payload = frame.payload
        problem = malformed(payload)
        if problem is not None and problem[0] == "MSH-2" and "hl7-ignores-msh-2" in self.faults:
            payload, problem = _default_encoding_characters(payload), None  # the defect
        if problem is not None:
            return self.acks.refuse_malformed(problem, connection, payload)
        text = decode(payload)
        with self._lock:
            self.received.append(text)
        try:
            message = read(text)
        except Exception as exc:
            return reject_unparsed(f"hl7apy cannot parse the message: {exc}")
        try:
            if self.acks.accept(message):
                self.orders.apply(message)
            outcome = Outcome()
        except Rejected as rejected:
            outcome = Outcome.of(rejected)
        except Exception as exc:  # a site bug must still be answered (table 0357: 207)
            log.exception("HL7 message %s could not be applied", value(message, "MSH-10"))
            note = f"application internal error: {type(exc).__name__}: {exc}"
            outcome = Outcome("AE", ("MSH", "207", note))
        return self.acks.answer(message, outcome)


# Versions whose segment table the split reader checks a message against (hl7apy's).
_SPLIT_VERSIONS = frozenset(timestamps.VERSIONS) & frozenset(SUPPORTED_LIBRARIES)


@functools.cache
def _segment_ids(version: str) -> frozenset[str]:
    """The segment IDs HL7 ``version`` defines (hl7apy's tables)."""
    return frozenset(load_library(version).SEGMENTS)


def read(text: str) -> Message:
    """The message, read by splitting (hl7/er7.py) when it is plain ER7 -- the default
    separators, no escape sequence, MSH-12 a version the site answers, only segments
    that version defines, no blanks around a segment (hl7apy strips them) -- so every
    value reads as hl7apy gives it;
    otherwise parsed by hl7apy, whose refusal (an unknown segment or version) the
    caller answers with AR. The split costs ~0.1 ms; hl7apy's parse ~20 ms, most of a
    sweep's time."""
    message = er7.Message(text)
    header = message.lines[0]
    fields = header.split("|")
    plain = (
        message.separators == er7.Separators()
        and len(fields) > 11
        and fields[11] in _SPLIT_VERSIONS
        and "\\" not in text[8:]
    )
    if plain:
        known = _segment_ids(fields[11])
        plain = all(
            not line or (line[:3] in known and line[3:4] == "|" and line == line.strip())
            for line in message.lines
        )
    return message if plain else hl7apy_messages.parse(text)


class FirstByteUncheckedReader(FrameReader):
    """hl7-first-byte-unchecked: a frame is whatever follows the first byte, which is
    taken for <VT> without being checked (MLLP Appendix C.4.3: bytes before <VT> are to
    be ignored), up to <FS> and its <CR>."""

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while self.buffer:
            end = self.buffer.find(FS, 1)
            if end < 0 or end + 1 >= len(self.buffer):
                break
            terminated = self.buffer[end + 1 : end + 2] == CR
            frames.append(Frame(self.buffer[1:end], b"", terminated))
            self.buffer = self.buffer[end + (2 if terminated else 1) :]
        return frames


class DiesWithoutMSHReader(FrameReader):
    """hl7-dies-without-msh: a frame that does not begin with MSH stops the listener
    (HL7 2.5 §2.9 says refuse it, MLLP Appendix C.4 keeps the interface up)."""

    def __init__(self, die: Callable[[], None]) -> None:
        super().__init__()
        self._die = die

    def feed(self, data: bytes) -> list[Frame]:
        frames = super().feed(data)
        if any(not frame.payload.startswith(b"MSH") for frame in frames):
            self._die()
            return []
        return frames


def _default_encoding_characters(payload: bytes) -> bytes:
    """hl7-ignores-msh-2: the header's MSH-2 replaced by the default ^~\\& (HL7 2.5
    §2.5.4), as a receiver that never reads MSH-2 takes every message."""
    header, _, rest = payload.partition(b"\r")
    separator = header[3:4]
    fields = header.split(separator)
    fields[1] = b"^~\\&"
    return separator.join(fields) + (b"\r" + rest if rest else b"")
