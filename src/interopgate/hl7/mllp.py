"""MLLP (Minimal Lower Layer Protocol, HL7 v2.5 Appendix C, Release 1): client and listener.

A frame is ``<VT> message <FS><CR>`` (0x0B ... 0x1C 0x0D), no length, no checksum; the
message's segments are separated by ``<CR>``. Why the framing is written by hand: hl7apy's
own ``hl7apy.mllp`` server is a blocking socketserver that decodes with one fixed
encoding, answers through a handler class per message type and hides the raw bytes --
a conformance harness has to see the bytes (junk before ``<VT>``, a missing ``<CR>``
after ``<FS>``), choose the encoding per MSH-18, time out, and send malformed frames on
purpose. Building and parsing the messages themselves is left to hl7apy (hl7/messages.py).

Timeouts: every connect and read is bounded. After a read timeout the client closes the
connection, so an ACK that arrives late can never be matched to the next message; on a
connection that stays open, a reply whose MSA-2 names an earlier message (HL7 2.5 §2.9.2:
MSA-2 = the acknowledged MSH-10) is never taken for the ACK of the message just sent.

One acknowledgment per message (HL7 2.5 §2.9.2; in enhanced mode §2.9.3 one accept and
one application ACK): every frame the client reads is counted against the message its
MSA-2 names, and a second ACK of the same kind for a message already acknowledged is a
finding, kept in :attr:`MLLPClient.repeated` whether or not a transcript is written (a
receiver that re-delivers its earlier messages answers the n-th message with n ACKs).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from interopgate.hl7 import er7

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"

# MSH-18 character set (HL7 table 0211) → Python codec; empty means ASCII (HL7 2.5 §2.15.9.18).
ENCODINGS = {
    "": "ascii",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
}


def codec_for(msh_18: str) -> str:
    """The Python codec for an MSH-18 value; unknown values fall back to Latin-1, which
    can decode every byte (so the message can still be answered with an error)."""
    return ENCODINGS.get(msh_18.strip().split("~")[0].upper(), "latin-1")


def field_of(data: bytes, segment: str, number: int) -> str:
    """Field ``number`` of the first ``segment`` in raw bytes ("" if absent), read by
    splitting (hl7/er7.py): MSH-10 and MSA-2 are ASCII whatever the
    charset, and the client reads MSA-2 of every frame it receives."""
    start = data.find(b"MSH")
    if start < 0:
        return ""
    return er7.value(data[start:].decode("latin-1"), er7.Location(segment, number))


def msh_18_of(data: bytes) -> str:
    """MSH-18 read from raw bytes (the MSH segment is ASCII whatever the charset)."""
    header = data.split(CR, 1)[0]
    if not header.startswith(b"MSH") or len(header) < 4:
        return ""
    fields = header.split(header[3:4])
    return fields[17].decode("ascii", "replace") if len(fields) > 17 else ""


def decode(data: bytes) -> str:
    return data.decode(codec_for(msh_18_of(data)), errors="replace")


def encode(message: str) -> bytes:
    """Encode per the message's own MSH-18."""
    return message.encode(codec_for(msh_18_of(message.encode("latin-1", "replace"))))


def frame(message: str | bytes) -> bytes:
    """``<VT> message <FS><CR>``; segments must already be separated by ``<CR>``."""
    data = encode(message) if isinstance(message, str) else message
    return VT + data + FS + CR


def show(message: str | bytes) -> str:
    """A message for a transcript: segments on their own lines, control bytes named."""
    text = decode(message) if isinstance(message, bytes) else message
    text = text.replace("\x0b", "<VT>").replace("\x1c", "<FS>")
    return "\n".join(line for line in text.replace("\r\n", "\r").split("\r"))


@dataclass
class Frame:
    """One received frame: the payload and how well it was framed."""

    payload: bytes
    leading_junk: bytes = b""  # bytes before <VT> (MLLP says: ignore them)
    terminated: bool = True  # <FS> was followed by <CR>

    @property
    def well_framed(self) -> bool:
        return not self.leading_junk and self.terminated

    def framing_problems(self) -> list[str]:
        problems = []
        if self.leading_junk:
            problems.append(f"{len(self.leading_junk)} byte(s) before <VT>")
        if not self.terminated:
            problems.append("<FS> not followed by <CR>")
        return problems


MAX_FRAME = 16 * 1024 * 1024  # default bound on one frame (profile: hl7.max_frame)


class FrameTooLarge(ValueError):
    """More bytes than ``max_frame`` arrived without completing a frame."""

    def __init__(self, size: int, limit: int, started: bool) -> None:
        self.size, self.limit, self.started = size, limit, started
        what = "a <VT> but no <FS><CR>" if started else "no <VT> frame start"
        super().__init__(
            f"{size} bytes without a complete frame ({what}), more than the {limit} the "
            "harness reads (hl7.max_frame)"
        )


class FrameReader:
    """Accumulates bytes and yields complete frames (HL7 v2.5 Appendix C.4.3).

    Bounded: more than ``max_frame`` bytes without a complete frame raise
    :class:`FrameTooLarge`; the scan resumes where the last one stopped, so a large
    frame arriving in small chunks costs linear time."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame
        self._scanned = 0  # bytes of the buffer already searched for <FS>

    @property
    def buffer(self) -> bytes:
        return bytes(self._buffer)

    @buffer.setter
    def buffer(self, value: bytes) -> None:
        self._buffer, self._scanned = bytearray(value), 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while True:
            buffer = self._buffer
            start = buffer.find(VT)
            if start < 0:
                self._check_size(False)
                return frames
            end = buffer.find(FS, max(start, self._scanned))
            if end < 0 or end + 1 >= len(buffer):
                self._scanned = max(start, len(buffer) - 1)
                self._check_size(True)
                return frames
            junk, payload = bytes(buffer[:start]), bytes(buffer[start + 1 : end])
            terminated = buffer[end + 1 : end + 2] == CR
            del buffer[: end + (2 if terminated else 1)]
            self._scanned = 0
            frames.append(Frame(payload, junk, terminated))

    def _check_size(self, started: bool) -> None:
        if len(self._buffer) > self.max_frame:
            size = len(self._buffer)
            self._buffer, self._scanned = bytearray(), 0
            raise FrameTooLarge(size, self.max_frame, started)


def ack_kind(msa_1: str) -> str:
    """ "accept" for a commit code of table 0008 (CA/CE/CR, enhanced mode §2.9.3), else
    "application" (AA/AE/AR, and whatever an original-mode receiver puts there)."""
    return "accept" if msa_1.startswith("C") else "application"


@dataclass(frozen=True)
class RepeatedAck:
    """An acknowledgment for a message that already had one of its kind (HL7 2.5
    §2.9.2): MSA-1/MSA-2 of the extra frame and the MSH-10 last sent when it came."""

    msa_2: str
    msa_1: str
    while_waiting_for: str
    text: str


class AckTimeout(TimeoutError):
    """No ACK within the read timeout; the connection has been closed."""


class ConnectionDropped(ConnectionError):
    """The peer closed the connection before a complete frame arrived."""


@dataclass
class Exchange:
    """One message sent and what came back (None: nothing within the timeout)."""

    sent: bytes
    reply: Frame | None
    elapsed: float
    problem: str | None = None  # "no ACK within 2 s", "connection closed by the peer", ...
    control_id: str = ""  # MSH-10 of the message sent ("" when it has none)

    @property
    def reply_text(self) -> str | None:
        return decode(self.reply.payload) if self.reply is not None else None

    @property
    def acknowledges(self) -> str | None:
        """MSA-2 of the reply: the MSH-10 it acknowledges (None without a reply)."""
        return field_of(self.reply.payload, "MSA", 2) if self.reply is not None else None


class MLLPClient:
    """Sends messages as an HL7 sender does and reads one reply frame per message.

    ``persistent=False`` opens one connection per message (what many interface engines
    do); ``persistent=True`` keeps one connection until :meth:`close` or a timeout.
    A reply is the first frame that does not acknowledge an *earlier* message: a frame
    whose MSA-2 is the MSH-10 of a message sent before this one is a late (or repeated)
    ACK and is not taken for the reply. :meth:`receive` reads a further frame the peer
    sends on its own (an enhanced-mode application ACK, HL7 2.5 §2.9.3). Every frame read
    is also counted per message: a second ACK of one kind (:func:`ack_kind`) for the same
    MSH-10 since it was last sent lands in :attr:`repeated` (see :meth:`repeated_summary`).
    """

    # Observers of every client's raw bytes (the wire capture, evidence/capture.py),
    # called as tap("open" | "sent" | "received" | "closed", socket, data).
    taps: ClassVar[list[Callable[[str, socket.socket, bytes], None]]] = []
    # MLLP over TLS (IHE ITI TF-2 3.19): address -> (context, the name its certificate
    # carries), registered by the target that speaks it, so every client to it uses TLS.
    tls: ClassVar[dict[tuple[str, int], tuple[ssl.SSLContext, str]]] = {}

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 5.0,
        persistent: bool = True,
        note: Callable[[str], None] | None = None,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.address = (host, port)
        self.max_frame = max_frame
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.persistent = persistent
        self.note = note or (lambda text: None)
        self._sock: socket.socket | None = None
        self._reader = FrameReader(max_frame)
        self._pending: list[Frame] = []  # frames after the reply, for receive()
        self._earlier: set[str] = set()  # MSH-10s sent before the current message
        self._current = ""  # MSH-10 of the message last sent
        self._late = 0  # late ACKs discarded while waiting for the current reply
        # MSH-10 -> the kinds of ACK seen for it since it was last sent (§2.9.2: one each)
        self._acknowledged: dict[str, set[str]] = {}
        self.repeated: list[RepeatedAck] = []

    @classmethod
    def for_settings(
        cls,
        address: tuple[str, int],
        settings: Any,
        *,
        persistent: bool | None = None,
        note: Callable[[str], None] | None = None,
    ) -> MLLPClient:
        """A client as a profile's ``hl7:`` section says (connect timeout, ACK timeout,
        ``connection``); ``persistent`` overrides the latter where a check needs one
        connection (a sweep, an application ACK that follows the commit ACK)."""
        if persistent is None:
            persistent = settings.connection == "persistent"
        return cls(
            *address,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.ack.timeout,
            persistent=persistent,
            note=note,
            max_frame=getattr(settings, "max_frame", MAX_FRAME),
        )

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._tap("closed", self._sock, b"")
            self._sock.close()
            self._sock = None
            self._reader = FrameReader(self.max_frame)
            self._pending = []

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection(self.address, timeout=self.connect_timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle wait
            if self.address in self.tls:
                context, name = self.tls[self.address]
                self._sock = context.wrap_socket(self._sock, server_hostname=name)
            self._tap("open", self._sock, b"")
            self.note(f"MLLP connection open to {self.address[0]}:{self.address[1]}")
        return self._sock

    def send(self, message: str, *, timeout: float | None = None) -> Exchange:
        """Frame and send ``message`` (segments separated by CR); wait for one reply frame."""
        return self.send_raw(frame(message), timeout=timeout, shown=message)

    def send_raw(
        self,
        data: bytes,
        *,
        timeout: float | None = None,
        shown: str | None = None,
        control_id: str | None = None,
    ) -> Exchange:
        """Send bytes as they are (malformed frames on purpose); wait for one reply frame.
        ``control_id`` is the MSH-10 of the message the bytes are meant to deliver (by
        default the first MSH-10 in them; unframed bytes in front have their own)."""
        self.note(">> " + show(shown if shown is not None else data))
        if self._current:
            self._earlier.add(self._current)
        self._current = field_of(data, "MSH", 10) if control_id is None else control_id
        self._late = 0
        self._earlier.discard(self._current)  # a resend (same MSH-10) is acknowledged again
        if self._current:
            self._acknowledged[self._current] = set()
        started = time.monotonic()
        try:
            sock = self._connect()
            if not self._drain(sock):  # the peer closed the idle connection: open a new one
                self.close()
                sock = self._connect()
        except OSError as exc:
            self.close()
            reason = f"cannot connect to {self.address[0]}:{self.address[1]}: "
            return self._done(data, None, started, reason + (exc.strerror or str(exc)))
        started = time.monotonic()
        wait = self.read_timeout if timeout is None else timeout
        try:
            sock.sendall(data)
            self._tap("sent", sock, data)
            reply = self._read_frame(sock, started + wait)
        except AckTimeout:
            problem = self._no_reply("no ACK", wait)
            self.close()  # a late ACK must never be read as the next message's ACK
            return self._done(data, None, started, problem)
        except FrameTooLarge as exc:
            self.close()
            return self._done(data, None, started, f"no ACK: the peer sent {exc}")
        except (ConnectionDropped, OSError) as exc:
            self.close()
            reason = (
                "connection closed by the peer"
                if isinstance(exc, ConnectionDropped)
                else f"connection error: {exc.strerror or exc}"
            )
            return self._done(data, None, started, reason)
        if not self.persistent:
            self.close()
        return self._done(data, reply, started, None)

    def send_window(
        self,
        messages: Iterable[str],
        window: int,
        *,
        timeout: float | Callable[[], float] | None = None,
    ) -> Iterator[Exchange]:
        """Send ``messages`` over one connection with up to ``window`` unacknowledged at a
        time; yield one Exchange per message, in the order sent.

        MLLP delivers a connection's messages in order and the receiver answers each with
        an ACK whose MSA-2 is its MSH-10 (HL7 2.5 §2.9.2), so a sender need not wait for
        one ACK before writing the next frame: the round trips overlap. ACKs are matched
        by MSA-2 (in any order). ``window`` 1 is :meth:`send` in a loop. When the oldest
        message's ACK does not come within the timeout, it and every message still
        waiting are reported without a reply and the connection is closed (a late ACK
        must not be read on the next); sending goes on on a new connection. ``messages``
        is read lazily: the caller may stop it (a time budget) between messages; a
        callable ``timeout`` is asked for each message's ACK wait as it is sent."""

        def wait_now() -> float:
            if callable(timeout):
                return timeout()
            return self.read_timeout if timeout is None else timeout

        if window <= 1:
            for message in messages:
                yield self.send(message, timeout=wait_now())
            return
        source = iter(messages)
        # (MSH-10, bytes, sent at, ACK wait), oldest first
        waiting: list[tuple[str, bytes, float, float]] = []
        arrived: dict[str, Frame] = {}
        exhausted = False
        while True:
            while not exhausted and len(waiting) < window:
                text = next(source, None)
                if text is None:
                    exhausted = True
                    break
                data = frame(text)
                control_id = field_of(data, "MSH", 10)
                self.note(">> " + show(text))
                self._acknowledged[control_id] = set()
                try:
                    if not waiting and self._sock is not None and not self._drain(self._sock):
                        self.close()  # the peer closed the idle connection: open a new one
                    sock = self._connect()
                    sock.sendall(data)
                    self._tap("sent", sock, data)
                except OSError as exc:
                    self.close()
                    reason = f"cannot send to {self.address[0]}:{self.address[1]}: "
                    yield from self._settle(waiting, arrived, "connection lost before its ACK")
                    waiting, arrived = [], {}
                    yield Exchange(data, None, 0.0, reason + (exc.strerror or str(exc)), control_id)
                    continue
                self._current = control_id
                waiting.append((control_id, data, time.monotonic(), wait_now()))
            if not waiting:
                return
            control_id, data, started, wait = waiting[0]
            problem = None
            try:
                while control_id not in arrived:
                    for received in self._read_frames(self._sock, started + wait):
                        msa_2 = field_of(received.payload, "MSA", 2)
                        if any(msa_2 == w[0] for w in waiting) and msa_2 not in arrived:
                            arrived[msa_2] = received
                        else:
                            self.note(
                                "<< a frame for no message awaiting an ACK: "
                                + show(received.payload)
                            )
            except AckTimeout:
                problem = self._no_reply("no ACK", wait)
            except FrameTooLarge as exc:
                problem = f"no ACK: the peer sent {exc}"
            except (ConnectionDropped, OSError) as exc:
                problem = (
                    "connection closed by the peer"
                    if isinstance(exc, ConnectionDropped)
                    else f"connection error: {exc.strerror or exc}"
                )
            if problem is None:
                waiting.pop(0)
                reply = arrived.pop(control_id)
                self._current = control_id
                yield self._done(data, reply, started, None)
                continue
            self.close()
            yield from self._settle(waiting, arrived, problem, first=control_id)
            waiting, arrived = [], {}

    def _settle(
        self, waiting, arrived: dict[str, Frame], why: str, first: str | None = None
    ) -> Iterator[Exchange]:
        """One Exchange for each message still waiting when the connection ended: the
        ACK that had already come (matched by MSA-2), else ``why``; a message behind
        ``first`` is marked as failed by the earlier message's problem."""
        for control_id, data, started, _ in waiting:
            reply = arrived.pop(control_id, None)
            self._current = control_id
            if reply is None and first is not None and control_id != first:
                yield self._done(data, None, started, f"{why} (an earlier message's)")
            else:
                yield self._done(data, reply, started, None if reply else why)

    def _read_frames(self, sock: socket.socket | None, deadline: float) -> list[Frame]:
        """The frames one read brings (at least one chunk before ``deadline``), each
        counted once, as it arrives (:meth:`_account`)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or sock is None:
            raise AckTimeout()
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AckTimeout() from None
        self._tap("received", sock, chunk)
        if not chunk:
            raise ConnectionDropped()
        arrived = self._reader.feed(chunk)
        for received in arrived:
            self._account(received)
        return arrived

    def receive(self, *, timeout: float | None = None) -> Exchange:
        """The next frame the peer sends unasked on the open connection (e.g. an
        application ACK after the commit ACK); late ACKs of earlier messages are skipped
        as in :meth:`send`. Nothing within ``timeout``: reply None, the connection stays."""
        started = time.monotonic()
        wait = self.read_timeout if timeout is None else timeout
        self._late = 0
        if self._sock is None and not self._pending:
            return self._done(b"", None, started, "no open connection to receive on")
        try:
            reply = self._read_frame(self._sock, started + wait)  # type: ignore[arg-type]
        except AckTimeout:
            return self._done(b"", None, started, self._no_reply("no further message", wait))
        except FrameTooLarge as exc:
            self.close()
            return self._done(b"", None, started, f"no further message: the peer sent {exc}")
        except (ConnectionDropped, OSError):
            self.close()
            return self._done(b"", None, started, "connection closed by the peer")
        return self._done(b"", reply, started, None)

    def _tap(self, event: str, sock: socket.socket, data: bytes) -> None:
        for tap in self.taps:
            tap(event, sock, data)

    def _no_reply(self, what: str, wait: float) -> str:
        late = f" ({self._late} late ACK(s) of earlier messages discarded)" if self._late else ""
        partial = len(self._reader.buffer)
        if partial:
            started = VT in self._reader.buffer
            late += (
                f" ({partial} byte(s) of a frame never ended by <FS><CR>; hl7.ack.timeout)"
                if started
                else f" ({partial} byte(s) received without a <VT> frame start; hl7.ack.timeout)"
            )
        return f"{what} within {wait:g} s{late}"

    def _done(self, data: bytes, reply: Frame | None, started: float, problem: str | None):
        elapsed = time.monotonic() - started
        if reply is not None:
            framing = ", ".join(reply.framing_problems())
            self.note(
                f"<< ({elapsed * 1000:.0f} ms{'; ' + framing if framing else ''}) "
                + show(reply.payload)
            )
        else:
            self.note(f"<< nothing ({problem}, after {elapsed:.2f} s)")
        return Exchange(data, reply, elapsed, problem, self._current if data else "")

    def _drain(self, sock: socket.socket) -> bool:
        """Discard what arrived unasked since the last reply (a late ACK, a second ACK),
        so that it is never taken for the reply to the message about to be sent. Returns
        False when the peer has closed the connection."""
        for extra in self._pending:
            self.note(f"<< discarded an unsolicited frame: {show(extra.payload)}")
        self._reader, self._pending = FrameReader(self.max_frame), []
        sock.setblocking(False)
        stale, alive = bytearray(), True
        try:
            while len(stale) <= self.max_frame:  # a peer streaming garbage is not drained for ever
                chunk = sock.recv(65536)
                self._tap("received", sock, chunk)
                if not chunk:
                    alive = False
                    break
                stale += chunk
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            alive = False
        finally:
            sock.setblocking(True)
        if stale:
            self.note(f"<< discarded {len(stale)} unsolicited byte(s): " + show(stale[:4096]))
            with contextlib.suppress(FrameTooLarge):
                for extra in FrameReader(self.max_frame).feed(bytes(stale)):
                    self._account(extra)
        return alive

    def _take(self) -> Frame | None:
        """The first pending frame that is not a late ACK of an earlier message."""
        while self._pending:
            candidate = self._pending.pop(0)
            acknowledged = field_of(candidate.payload, "MSA", 2)
            if acknowledged and acknowledged in self._earlier:
                self._late += 1
                self.note(
                    f"<< discarded a late ACK (MSA-2 {acknowledged}, an earlier message) "
                    f"while waiting for the ACK of MSH-10 {self._current or '(none)'}: "
                    + show(candidate.payload)
                )
                continue
            return candidate
        return None

    def _read_frame(self, sock: socket.socket | None, deadline: float) -> Frame:
        while True:
            found = self._take()
            if found is not None:
                return found
            # Frames after the reply stay pending: receive() may ask for them; the next
            # send() discards them (_drain).
            self._pending += self._read_frames(sock, deadline)

    def _account(self, received: Frame) -> None:
        """Count a frame against the message its MSA-2 names (HL7 2.5 §2.9.2: one ACK per
        message, §2.9.3: one accept and one application ACK in enhanced mode); a second of
        a kind is recorded in :attr:`repeated`. A frame naming no message sent on this
        client (an empty or foreign MSA-2) is left for the checks to judge."""
        msa_2 = field_of(received.payload, "MSA", 2)
        seen = self._acknowledged.get(msa_2) if msa_2 else None
        if seen is None:
            return
        msa_1 = field_of(received.payload, "MSA", 1)
        kind = ack_kind(msa_1)
        if kind not in seen:
            seen.add(kind)
            return
        self.repeated.append(RepeatedAck(msa_2, msa_1, self._current, decode(received.payload)))
        self.note(
            f"<< a second {kind} ACK (MSA-1 {msa_1 or '(empty)'}) for MSH-10 {msa_2}, "
            f"already acknowledged (HL7 2.5 §2.9.2: one per message), while waiting for "
            f"MSH-10 {self._current or '(none)'}"
        )

    def repeated_summary(self) -> str | None:
        """What :attr:`repeated` holds, in one line for a verdict (None when nothing was
        acknowledged twice): how many, for how many messages, and the first occurrence."""
        if not self.repeated:
            return None
        first = self.repeated[0]
        messages = len({r.msa_2 for r in self.repeated})
        when = (
            "right after its own ACK"
            if first.while_waiting_for == first.msa_2
            else f"while waiting for the ACK of MSH-10 {first.while_waiting_for or '(none)'}"
        )
        return (
            f"{len(self.repeated)} ACK(s) for {messages} message(s) already acknowledged; "
            f"first: MSH-10 {first.msa_2} acknowledged again (MSA-1 {first.msa_1 or '(empty)'}) "
            f"{when}"
        )


# --------------------------------------------------------------------------- listener

Handler = Callable[[Frame, "Connection"], "bytes | str | None"]


@dataclass
class Connection:
    """What a handler knows about the connection a frame came in on."""

    peer: tuple[str, int]
    state: dict = field(default_factory=dict)
    close: bool = False  # set by a handler to drop the connection after this frame


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class MLLPListener:
    """A threaded MLLP listener on ``host:port`` (0 = a free port).

    ``handler(frame, connection)`` returns the reply (a message string, raw bytes to send
    as they are, or None for no reply). Every received frame is also kept in
    :attr:`received` so a test can inspect what a sender sent. ``reader`` makes the
    per-connection :class:`FrameReader` (a site fault swaps in a defective one).
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 60,
        reader: Callable[[], FrameReader] = FrameReader,
        ssl_context: Any = None,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context  # an ssl.SSLContext (or tls.PlainOrTls): MLLP over TLS
        self._new_reader = reader  # how a connection's bytes become frames
        self.max_frame = max_frame
        self._connections: set[socket.socket] = set()
        self.received: list[Frame] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        listener = self

        class _Request(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                listener._serve(self.request, self.client_address, idle_timeout)

        self._server = _TCPServer((host, port), _Request, bind_and_activate=True)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> MLLPListener:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and end every open connection (a sender trickling bytes or
        never ending its frame must not keep a thread alive after the listener)."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_now = list(self._connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> MLLPListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float) -> list[Frame]:
        """Block until ``count`` frames arrived (or ``timeout``); return those received."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def _serve(self, sock: socket.socket, peer: tuple[str, int], idle_timeout: float) -> None:
        sock.settimeout(idle_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies leave at once
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_side=True)
            except OSError:  # a failed handshake (ssl.SSLError is an OSError)
                return
        reader = self._new_reader()
        if reader.max_frame == MAX_FRAME:
            reader.max_frame = self.max_frame
        connection = Connection(peer)
        with self._lock:
            self._connections.add(sock)
        try:
            self._serve_frames(sock, reader, connection)
        finally:
            with self._lock:
                self._connections.discard(sock)

    def _serve_frames(self, sock: socket.socket, reader: FrameReader, connection) -> None:
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            try:
                arrived = reader.feed(chunk)
            except FrameTooLarge:
                return  # a frame past max_frame: drop the connection (bounded memory)
            for received in arrived:
                with self._arrived:
                    self.received.append(received)
                    self._arrived.notify_all()
                reply = self.handler(received, connection)
                try:
                    if reply is not None:
                        sock.sendall(frame(reply) if isinstance(reply, str) else reply)
                except OSError:
                    return
                if connection.close:
                    return
