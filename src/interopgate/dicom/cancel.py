"""C-FIND with a timed C-CANCEL (PS3.7 9.3.2.3): what a verdict on the cancel needs.

A C-CANCEL-FIND-RQ races the SCP's responses: matches the SCP had written before the
cancel reached it are in flight, and on a fast server all of them can be. Judging by
when a response was *decoded* mixes that up with the harness's own speed (pynetdicom
may decode a backlog long after the bytes came in), so this module records, on the
association the query runs on:

* the round trip of C-ECHO (PS3.7 9.1.5), the target's reaction time, a few times;
* when the C-CANCEL-FIND-RQ left (written as the first response arrives, see
  :class:`_CancelOnFirstResponse`);
* for each C-FIND-RSP, the byte offset in the received stream where it ends, and for the
  stream, samples of (time, bytes read, bytes waiting in the kernel's receive queue,
  FIONREAD): from those, the latest moment a response was provably *not yet* all
  received, a lower bound of when the SCP sent it, whatever the harness's backlog.

The verdict itself (in flight, disobeyed, inconclusive) is
:func:`interopgate.matching_cases.judge_cancel`.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import select
import socket
import statistics
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom import sop_class as sop
from pynetdicom.dimse_messages import C_CANCEL_RQ
from pynetdicom.dimse_primitives import C_CANCEL
from pynetdicom.pdu import P_DATA_TF

from interopgate.dicom.query import (
    FIND_TIMEOUT,
    MAX_FIND_RESPONSES,
    InformationModel,
    _quiesce_reactor,
    describe_query,
)

ECHOES = 5
SWITCH_INTERVAL = 0.0002  # seconds; CPython's default is 0.005
# A receive buffer that holds a whole stream: when it fills, TCP flow control keeps
# responses in the SCP's send buffer, and they would arrive late though sent early.
RECEIVE_BUFFER = 8 * 1024 * 1024


@dataclass
class StreamSample:
    """One look at the receive side: at ``time``, ``read`` bytes had been consumed and
    ``waiting`` more sat in the kernel, so the first ``read + waiting`` had arrived."""

    time: float
    read: int
    waiting: int

    @property
    def arrived(self) -> int:
        return self.read + self.waiting


@dataclass
class TimedResponse:
    status: int
    end_offset: int  # bytes of the received stream up to the end of this response
    decoded: float  # time.monotonic() when its last PDU was read


@dataclass
class CancelRun:
    """One C-FIND cancelled as its first response arrived, with its timings."""

    model: InformationModel
    request: Dataset
    refusal: str = ""
    round_trips: list[float] = field(default_factory=list)  # seconds, C-ECHO (or empty C-FIND)
    round_trip_by: str = "C-ECHO"
    cancel_sent: float | None = None  # the C-CANCEL PDU written to the socket
    responses: list[TimedResponse] = field(default_factory=list)
    samples: list[StreamSample] = field(default_factory=list)
    kernel_queue: bool = True  # FIONREAD worked: byte arrival can be bounded
    receive_buffer: int = 0  # SO_RCVBUF as the kernel set it
    problem: str | None = None  # the stream was cut (target.max_find_responses / find_timeout)

    @property
    def flow_limited(self) -> bool:
        """Our receive queue came near full: TCP flow control may have held responses
        back in the SCP, so a late arrival no longer proves a late send."""
        most = max((s.waiting for s in self.samples), default=0)
        return not self.receive_buffer or most > self.receive_buffer // 4

    @property
    def accepted(self) -> bool:
        return not self.refusal

    @property
    def round_trip(self) -> float | None:
        return statistics.median(self.round_trips) if self.round_trips else None

    def sent_no_earlier_than(self, response: TimedResponse) -> float:
        """The last sampled moment this response had not yet all arrived: the SCP cannot
        have finished sending it before then (0.0 when no sample says so)."""
        before = [s.time for s in self.samples if s.arrived < response.end_offset]
        return max(before, default=0.0)

    def all_arrived_by(self, response: TimedResponse) -> float:
        """The first sampled moment this response had all arrived (its decode time when
        no sample says so): the SCP had sent it by then."""
        after = [s.time for s in self.samples if s.arrived >= response.end_offset]
        return min(after, default=response.decoded)


class _Recorder:
    """Wraps the association socket's ``recv`` to sample the receive side."""

    def __init__(self, run: CancelRun, assoc_socket: Any) -> None:
        self.run = run
        self.read = 0
        self.raw = assoc_socket.socket
        self._recv = assoc_socket.recv
        assoc_socket.recv = self.recv
        with contextlib.suppress(OSError):
            self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        try:
            run.receive_buffer = int(self.raw.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError:
            run.receive_buffer = 0

    def waiting(self) -> int:
        buffer = array.array("i", [0])
        try:
            fcntl.ioctl(self.raw.fileno(), termios.FIONREAD, buffer, True)
        except (OSError, ValueError):
            self.run.kernel_queue = False
            return 0
        return int(buffer[0])

    def quick_ack(self) -> None:
        """TCP_QUICKACK (Linux; the kernel drops it after a while, hence before every
        read): an SCP that keeps Nagle's algorithm on (DCMTK, Orthanc) holds its second
        PDU until our ACK, and a delayed ACK (~40 ms) would make it look that slow."""
        with contextlib.suppress(OSError, AttributeError):
            self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def recv(self, nr_bytes: int) -> bytearray:
        self.quick_ack()
        self.run.samples.append(StreamSample(time.monotonic(), self.read, self.waiting()))
        data = self._recv(nr_bytes)
        self.read += len(data)
        return data


def _echo_round_trips(assoc, count: int) -> list[float]:
    trips = []
    for _ in range(count):
        if not assoc.is_established:  # the peer ended it: no RuntimeError from pynetdicom
            break
        _quiesce_reactor(assoc)  # a fast C-ECHO-RSP must not go to pynetdicom's reactor
        start = time.monotonic()
        status = assoc.send_c_echo()
        if status is None or status.get("Status") != 0x0000:
            break
        trips.append(time.monotonic() - start)
    return trips


def _empty_find_round_trips(assoc, model: InformationModel, count: int) -> list[float]:
    """Without Verification: a C-FIND that matches nothing (one final response)."""
    query = Dataset()
    if model.level:
        query.QueryRetrieveLevel = model.level
    query.PatientID = "IG-NO-SUCH-PATIENT"
    setattr(query, model.identity, "")
    trips = []
    for _ in range(count):
        if not assoc.is_established:
            break
        _quiesce_reactor(assoc)
        start = time.monotonic()
        statuses = [s for s, _ in assoc.send_c_find(query, model.sop_class)]
        if not statuses or "Status" not in statuses[-1]:
            break
        trips.append(time.monotonic() - start)
    return trips


def find_and_cancel(device, model: InformationModel, identifier: Dataset) -> CancelRun:
    """Measure the round trip, send one C-FIND and a C-CANCEL-FIND-RQ as its first
    response arrives, and keep the timings (one association)."""
    run = CancelRun(model, identifier)
    with device.associate([model.sop_class, sop.Verification]) as (assoc, negotiation):
        if not negotiation.established:
            run.refusal = negotiation.outcome()
            return run
        context_id, answer = negotiation.context(model.sop_class)
        if answer is None or answer.result != 0:
            run.refusal = f"presentation context {context_id} for {model.label} not accepted"
            return run
        recorder = _Recorder(run, assoc.dul.socket)
        recorder.quick_ack()
        _, echo = negotiation.context(sop.Verification)
        if echo is not None and echo.result == 0:
            run.round_trips = _echo_round_trips(assoc, ECHOES)
        if not run.round_trips:
            run.round_trip_by = "a C-FIND matching nothing"
            run.round_trips = _empty_find_round_trips(assoc, model, ECHOES)
        if not assoc.is_established:
            run.refusal = "the association ended while the round trip was measured"
            return run
        _query(device, assoc, run, recorder, context_id)
    return run


def _cancel_pdus(message_id: int, context_id: int) -> list[bytes]:
    """The C-CANCEL-RQ (PS3.7 9.3.2.3) for ``message_id`` as encoded P-DATA-TF PDUs."""
    primitive = C_CANCEL()
    primitive.MessageIDBeingRespondedTo = message_id
    message = C_CANCEL_RQ()
    message.primitive_to_message(primitive)
    encoded = []
    for pdata in message.encode_msg(context_id, 16384):
        pdu = P_DATA_TF()
        pdu.from_primitive(pdata)
        encoded.append(pdu.encode())
    return encoded


class _CancelOnFirstResponse(threading.Thread):
    """Writes the C-CANCEL the moment the SCP's first response starts to arrive (the
    socket turns readable): the C-FIND is then provably in progress, and the harness's
    own reaction takes microseconds. Sent the ordinary way, through pynetdicom, it
    would wait behind every response already read and not yet processed (its DUL
    handles one event per loop and sleeps a millisecond when idle): time in which a fast
    SCP sends everything and has nothing left to cancel. While a C-FIND runs nothing
    else writes to the association, so the write cannot interleave with another PDU."""

    def __init__(self, run: CancelRun, raw: socket.socket, pdus: list[bytes]) -> None:
        super().__init__(name="interopgate-cancel", daemon=True)
        self.timings = run
        self.raw = raw
        self.pdus = pdus
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([self.raw], [], [], 0.05)
            except (OSError, ValueError):
                return
            if readable:
                try:
                    for pdu in self.pdus:
                        self.raw.sendall(pdu)
                except OSError:
                    return
                self.timings.cancel_sent = time.monotonic()
                return


def _query(device, assoc, run: CancelRun, recorder: _Recorder, context_id: int) -> None:
    message_id = 7
    cancel = _CancelOnFirstResponse(run, recorder.raw, _cancel_pdus(message_id, context_id))

    def on_dimse(event: evt.Event) -> None:
        command = event.message.command_set
        if command.CommandField == 0x8020:  # C-FIND-RSP
            run.responses.append(
                TimedResponse(int(command.Status), recorder.read, time.monotonic())
            )

    def on_sent(event: evt.Event) -> None:
        # ident is None until started: the C-FIND-RQ's second PDU (its identifier) may
        # go out after a fast watcher already ended, and a thread starts only once.
        if event.pdu.pdu_type == 0x04 and cancel.ident is None and not cancel.stop.is_set():
            cancel.start()  # the C-FIND-RQ is going out: watch for the first response

    device.transcript.note(
        f"C-FIND {run.model.label}: {describe_query(run.request)}, C-CANCEL-FIND-RQ as the "
        f"first response arrives; round trip {_ms(run.round_trip)} by {run.round_trip_by}"
    )
    assoc.bind(evt.EVT_DIMSE_RECV, on_dimse)
    assoc.bind(evt.EVT_PDU_SENT, on_sent)
    _quiesce_reactor(assoc)
    # The watcher needs the GIL the moment the socket turns readable, while pynetdicom's
    # threads decode: a shorter switch interval for the length of one query.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    target = getattr(getattr(device, "profile", None), "target", None)
    most = getattr(target, "max_find_responses", MAX_FIND_RESPONSES)
    deadline = time.monotonic() + getattr(target, "find_timeout", FIND_TIMEOUT)
    try:
        responses = assoc.send_c_find(run.request, run.model.sop_class, msg_id=message_id)
        for count, (status, _) in enumerate(responses, 1):
            if "Status" not in status:
                break
            if count >= most or time.monotonic() > deadline:
                # A stream that never ends is cut (bounded time and memory) and aborted.
                run.problem = (
                    f"more than {most} pending C-FIND responses (target.max_find_responses)"
                    if count >= most
                    else "no final C-FIND response within the find timeout "
                    f"(target.find_timeout) after {count} response(s)"
                )
                device.transcript.note(f"!! {run.problem}; association aborted")
                responses.close()
                with contextlib.suppress(AttributeError):
                    assoc._reactor_checkpoint.set()
                assoc.abort()
                break
    finally:
        sys.setswitchinterval(interval)
        cancel.stop.set()
        assoc.unbind(evt.EVT_DIMSE_RECV, on_dimse)
        assoc.unbind(evt.EVT_PDU_SENT, on_sent)
        if cancel.is_alive():
            cancel.join(1)
    if run.cancel_sent is not None:
        before = sum(1 for r in run.responses if r.decoded <= run.cancel_sent)
        device.transcript.note(
            f">> C-CANCEL-FIND-RQ for message {message_id} written as the first response "
            f"arrived ({before} decoded by then); {len(run.responses)} response(s) in all"
        )


def _ms(seconds: float | None) -> str:
    return "unmeasured" if seconds is None else f"{seconds * 1000:.1f} ms"
