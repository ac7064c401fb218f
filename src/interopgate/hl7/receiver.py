"""The harness as an HL7 receiver: what does the *target* send?

A RIS forwarding ORM, a PACS sending ORU or ADT: the harness listens on a loopback MLLP
port (the ``mllp_receiver`` fixture), acknowledges every message AA as a well-behaved
receiver would (HL7 2.5 §2.9.2), keeps the frames, and :func:`inspect` applies the same
rules the suites apply to the target's ACKs, in reverse: framing (MLLP Appendix C),
timestamps (TS/DTM grammar of the message's version) and required fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from hl7apy.exceptions import HL7apyException

from interopgate.hl7 import er7, timestamps
from interopgate.hl7.messages import build_ack, parse, time_fields, value
from interopgate.hl7.mllp import Connection, Frame, MLLPListener, decode

RECEIVER_APPLICATION = ("IG_HARNESS", "IG")
REQUIRED = ("MSH-3", "MSH-7", "MSH-9", "MSH-10", "MSH-11", "MSH-12")


class MLLPReceiver:
    """A loopback MLLP listener that ACKs every message AA and remembers it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, note=None) -> None:
        self.note = note or (lambda text: None)
        self._listener = MLLPListener(self._answer, host, port)

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    @property
    def frames(self) -> list[Frame]:
        return list(self._listener.received)

    def start(self) -> MLLPReceiver:
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()

    def wait_for(self, count: int, timeout: float) -> list[Frame]:
        """The first ``count`` frames, waiting at most ``timeout`` seconds for them."""
        return self._listener.wait_for(count, timeout)[:count]

    def _answer(self, frame: Frame, connection: Connection) -> str | None:
        text = decode(frame.payload)
        self.note("<< (received) " + text.replace("\r", "\n"))
        try:
            message = parse(text)
            control_id, version = value(message, "MSH-10"), value(message, "MSH-12.1")
            sender = (value(message, "MSH-3"), value(message, "MSH-4"))
            code = "AA"
        except Exception:
            control_id, version, sender, code = "", "2.5", ("", ""), "AR"
        ack = build_ack(
            version if version in timestamps.VERSIONS else "2.5",
            sending=RECEIVER_APPLICATION,
            receiving=sender,
            trigger=value(message, "MSH-9.2") if code == "AA" else "",
            code=code,
            control_id=control_id,
        )
        self.note(">> (ACK) " + ack.replace("\r", "\n"))
        return ack


@dataclass
class Finding:
    location: str
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}"


def inspect(
    frame: Frame,
    *,
    version: str | None = None,
    strict: bool = True,
    required: tuple[str, ...] = REQUIRED,
) -> list[Finding]:
    """What is wrong with a message a target sent: framing, time fields, empty required
    fields. ``version`` defaults to the message's own MSH-12."""
    findings = [Finding("MLLP", p) for p in frame.framing_problems()]
    text = decode(frame.payload)
    if not text.startswith("MSH"):
        return [*findings, Finding("MSH", "the message does not start with MSH")]
    # MSH-12 read from the text first: hl7apy refuses a version it lacks by raising.
    version = version or er7.value(text, "MSH-12.1")
    if version not in timestamps.VERSIONS:
        return [*findings, Finding("MSH-12", f"unknown HL7 version {version!r}")]
    try:
        message = parse(text)
    except HL7apyException as exc:  # bad encoding characters, no segments, ...
        problem = f"not an HL7 v2 message hl7apy can read ({type(exc).__name__}: {exc})"
        return [*findings, Finding("MSH", problem)]
    family, trigger = value(message, "MSH-9.1"), value(message, "MSH-9.2")
    for location in required:
        if not value(message, location):
            findings.append(Finding(location, "required field is empty"))
    message_type = f"{family}^{trigger}"
    known = family in ("SIU", "ORM", "OMI", "ADT")
    locations = time_fields(message_type, version) if known else ["MSH-7"]
    for location in locations:
        text_value = value(message, location).replace("&", "^")
        if not text_value:
            continue
        try:
            timestamps.parse(text_value, version, strict=strict)
        except timestamps.TimestampError as exc:
            findings.append(Finding(location, f"{exc} ({timestamps.clause(version)})"))
    return findings
