"""HL7 v2 over MLLP on a reassembled TCP stream: frames (HL7 v2.5 Appendix C), the
messages in them read by splitting on their own separators (hl7/er7.py), and each
message's ACK (HL7 2.5 §2.9: MSA-2 = the acknowledged MSH-10).

A stream is MLLP when its client's first bytes are ``<VT>MSH`` (after junk MLLP says to
ignore), on whatever port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interopgate.analysis.reassembly import Stream, Where
from interopgate.hl7 import er7
from interopgate.hl7.mllp import VT, FrameReader, decode


@dataclass
class Hl7Message:
    where: Where
    stream: Stream
    from_client: bool
    text: str
    framing: list[str] = field(default_factory=list)  # MLLP framing problems
    ack: Hl7Message | None = None  # for a message: the ACK that answered it
    answers: Hl7Message | None = None  # for an ACK: the message it answered

    def get(self, location: str) -> str:
        try:
            return er7.value(self.text, location)
        except (ValueError, IndexError):
            return ""

    @property
    def control_id(self) -> str:
        return self.get("MSH-10")

    @property
    def type(self) -> str:
        """MSH-9 as ``SIU^S12`` (message code ^ trigger event)."""
        code, event = self.get("MSH-9.1"), self.get("MSH-9.2")
        return f"{code}^{event}" if event else code

    @property
    def version(self) -> str:
        return self.get("MSH-12.1") or self.get("MSH-12")

    @property
    def is_ack(self) -> bool:
        return any(s.startswith("MSA") for s in er7.segments(self.text))

    @property
    def error_text(self) -> str:
        """What the ACK says went wrong: ERR-3 (2.5+: code ^ text), ERR-8 (user message),
        ERR-1 (up to 2.4), MSA-3 (text message, withdrawn in 2.7)."""
        parts: list[str] = []
        for location in ("ERR-8", "ERR-3.2", "ERR-1", "MSA-3"):
            value = self.get(location)
            if value and not any(value in p or p.startswith(value) for p in parts):
                parts = [p for p in parts if p not in value] + [value]
        return "; ".join(parts)

    def segments(self) -> list[str]:
        return er7.segments(self.text)


def is_mllp(stream: Stream) -> bool:
    head = stream.to_server.assemble().data[:1024]
    start = head.find(VT)
    return start >= 0 and head[start + 1 : start + 4] == b"MSH"


def decode_messages(stream: Stream) -> list[Hl7Message]:
    """Both directions' frames, each at the frame its ``<FS>`` arrived in, time-ordered."""
    messages: list[Hl7Message] = []
    for from_client, direction in ((True, stream.to_server), (False, stream.to_client)):
        reader = FrameReader()
        for chunk, where in direction.assemble().chunks():
            for frame in reader.feed(chunk):
                text = decode(frame.payload)
                messages.append(
                    Hl7Message(where, stream, from_client, text, frame.framing_problems())
                )
    messages.sort(key=lambda m: (m.where.time, m.where.frame))
    _pair(messages)
    return messages


def _pair(messages: list[Hl7Message]) -> None:
    """An ACK answers the latest earlier unanswered message from the other side whose
    MSH-10 its MSA-2 names (HL7 2.5 §2.9.2)."""
    waiting: list[Hl7Message] = []
    for message in messages:
        if not message.is_ack:
            waiting.append(message)
            continue
        acknowledged = message.get("MSA-2")
        for candidate in reversed(waiting):
            if (
                candidate.ack is None
                and candidate.from_client != message.from_client
                and candidate.control_id == acknowledged
            ):
                candidate.ack, message.answers = message, candidate
                break
