"""Association probes: open an association as the device would and record what happened.

pynetdicom does the protocol; this module keeps what a verdict needs that pynetdicom's
``Association`` does not keep in one place: whether the TCP connection opened, the
A-ASSOCIATE-RJ result/source/reason (PS3.8 9.3.4), the A-ASSOCIATE-AC exactly as it was
on the wire (context IDs and results, PS3.8 9.3.3.2), and the peer's maximum PDU.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pynetdicom import AE, Association, build_role, evt
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ
from pynetdicom.pdu_items import MaximumLengthSubItem, PresentationContextItemAC

from interopgate.dicom import tuning, uids  # noqa: F401  (tuning: pynetdicom settings, on import)
from interopgate.evidence import Transcript

# PS3.8 Table 9-21 (A-ASSOCIATE-RJ) and 9.3.3.2 (presentation context results).
REJECT_RESULT = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCE = {
    1: "service-user",
    2: "service-provider (ACSE)",
    3: "service-provider (presentation)",
}
REJECT_REASON = {
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-AE-title-not-recognized",
    (1, 7): "called-AE-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}
CONTEXT_RESULT = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}
# PS3.8 Table 9-26 (A-ABORT): source and reason/diag.
ABORT_SOURCE = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASON = {
    0: "reason-not-specified",
    1: "unrecognized-PDU",
    2: "unexpected-PDU",
    4: "unrecognized-PDU-parameter",
    5: "unexpected-PDU-parameter",
    6: "invalid-PDU-parameter-value",
}
# PS3.8 9.3.1: the PDU types an association may carry.
PDU_TYPES = {1, 2, 3, 4, 5, 6, 7}
MAX_PDU_READ = 64 * 1024 * 1024  # the largest PDU the harness reads (bounded memory)


@dataclass(frozen=True)
class Endpoint:
    """Where a DICOM peer listens and what it is called."""

    host: str
    port: int
    called_ae: str
    connect_timeout: float = 5.0
    dimse_timeout: float = 10.0
    # DICOM TLS (PS3.15 B.9): the context every association opens with, and the name the
    # peer's certificate must carry; None = plain TCP.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    server_name: str | None = None
    # None: connect_timeout + 5 (ACSE), dimse_timeout + 5 (network: the longest one PDU
    # may take to arrive, and the longest an association may stay silent)
    acse_timeout: float | None = None
    network_timeout: float | None = None
    max_pdu_read: int = MAX_PDU_READ

    @property
    def acse_wait(self) -> float:
        return self.connect_timeout + 5 if self.acse_timeout is None else self.acse_timeout

    @property
    def network_wait(self) -> float:
        return self.dimse_timeout + 5 if self.network_timeout is None else self.network_timeout

    def __str__(self) -> str:
        tls = " (TLS)" if self.ssl_context is not None else ""
        return f"{self.called_ae}@{self.host}:{self.port}{tls}"

    @property
    def tls_args(self) -> tuple[ssl.SSLContext, str | None] | None:
        """What ``AE.associate(tls_args=...)`` takes, or None for plain TCP."""
        if self.ssl_context is None:
            return None
        return self.ssl_context, self.server_name or self.host


@dataclass(frozen=True)
class Rejection:
    result: int
    source: int
    reason: int

    def __str__(self) -> str:
        return (
            f"A-ASSOCIATE-RJ result {self.result} ({REJECT_RESULT.get(self.result, '?')}), "
            f"source {self.source} ({REJECT_SOURCE.get(self.source, '?')}), "
            f"reason {self.reason} ({REJECT_REASON.get((self.source, self.reason), '?')})"
        )


@dataclass
class WireContext:
    """One Presentation Context Item of the A-ASSOCIATE-AC, as received."""

    context_id: int
    result: int
    transfer_syntax: str | None


@dataclass
class Negotiation:
    endpoint: Endpoint
    proposed: list[tuple[int, str, list[str]]] = field(default_factory=list)
    connected: bool = False
    accept: list[WireContext] | None = None
    rejection: Rejection | None = None
    aborted: bool = False
    peer_max_pdu: int | None = None
    # What ended the association early, seen on the wire (None while it is healthy):
    peer_abort: tuple[int, int] | None = None  # A-ABORT source, reason/diag (PS3.8 9.3.8)
    wire_problem: str | None = None  # a PDU the harness refused or could not read whole
    closed_by_peer: bool = False  # the TCP connection closed without release or abort
    releasing: bool = False  # set when the harness itself releases or aborts

    @property
    def established(self) -> bool:
        return self.accept is not None

    def context(self, abstract_syntax: str) -> tuple[int, WireContext | None]:
        """The proposed context ID for an abstract syntax and the AC's answer to it."""
        for context_id, syntax, _ in self.proposed:
            if syntax == abstract_syntax:
                answer = next((c for c in self.accept or [] if c.context_id == context_id), None)
                return context_id, answer
        raise KeyError(abstract_syntax)

    def outcome(self) -> str:
        """One phrase for a failure message: what the association attempt ended in."""
        if not self.connected:
            return f"no TCP connection to {self.endpoint.host}:{self.endpoint.port}"
        if self.rejection:
            return str(self.rejection)
        if self.accept is not None:
            return "A-ASSOCIATE-AC"
        return "the peer aborted or closed the connection during negotiation"

    def ended(self) -> str | None:
        """What the peer did to end the association early, in one phrase for a failure
        message (None when nothing was seen)."""
        if self.wire_problem:
            return self.wire_problem
        if self.peer_abort is not None:
            source, reason = self.peer_abort
            return (
                f"association aborted by the peer (A-ABORT source {source} "
                f"({ABORT_SOURCE.get(source, '?')}), reason {reason} "
                f"({ABORT_REASON.get(reason, '?')}), PS3.8 9.3.8)"
            )
        if self.closed_by_peer:
            return "the peer closed the TCP connection without A-RELEASE or A-ABORT"
        return None


def describe_context(answer: WireContext | None) -> str:
    if answer is None:
        return "no answer for this context ID in the A-ASSOCIATE-AC"
    text = f"result {answer.result} ({CONTEXT_RESULT.get(answer.result, 'unknown')})"
    if answer.result == 0 and answer.transfer_syntax:
        text += f" with {uids.label(answer.transfer_syntax)}"
    return text


def no_delay(assoc: Association) -> None:
    """TCP_NODELAY: a DIMSE message goes out as a command PDU then a data set PDU; with
    Nagle's algorithm the second waits for the peer's delayed ACK (~40 ms a message)."""
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def quick_ack(assoc: Association) -> None:
    """TCP_QUICKACK before every read (Linux; the kernel drops it after a while): a peer
    that keeps Nagle's algorithm on (DCMTK, Orthanc) holds the second PDU of each
    response until our ACK, ~40 ms when it is delayed. Only for callers that keep
    pynetdicom's reactor off their responses (``dicom.query._quiesce_reactor``): fast
    responses make its race likelier."""
    assoc_socket = getattr(assoc.dul, "socket", None)
    sock = getattr(assoc_socket, "socket", None)
    option = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or option is None:
        return
    recv = assoc_socket.recv

    def recv_acking_at_once(nr_bytes: int) -> bytearray:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        return recv(nr_bytes)

    assoc_socket.recv = recv_acking_at_once


def keep_responses_for_their_waiter(assoc: Association) -> None:
    """Let pynetdicom's association reactor take only requests off the DIMSE queue.

    A ``send_*`` call pauses the reactor (a checkpoint and an ``_is_paused`` flag) and
    then waits on the queue for its response. The flag is already True while the
    reactor is between passing the checkpoint and polling the queue, so on a loaded
    machine (a thread can wait a whole GIL switch interval, 5 ms) the reactor can still
    poll once after the pause was seen: it takes the response, logs "Received unexpected
    C-FIND service message" and drops it, and the caller sees a match missing or waits
    out the DIMSE timeout (a false failure). On an association the harness requested,
    a response is only ever for a caller that waits for it, so the reactor's poll
    (the only non-blocking ``get_msg``) now leaves responses where they are. Written
    here because pynetdicom offers no hook for it; the pop is ``queue.Queue.get``'s
    own, under the queue's lock."""
    dimse = assoc.dimse
    pending = dimse.msg_queue
    if not hasattr(pending, "mutex"):
        # gevent's queue (the load process, monkey-patched): greenlets switch only when
        # one blocks, so the reactor cannot run between the pause and its poll.
        return
    take = dimse.get_msg

    def get_msg(block: bool = False):
        if block:
            return take(block=True)
        with pending.mutex:
            if not pending.queue or not getattr(pending.queue[0][1], "is_valid_request", False):
                return None, None
            item = pending._get()  # type: ignore[attr-defined]
            pending.not_full.notify()
            return item

    dimse.get_msg = get_msg  # type: ignore[method-assign]


class _NoTransportTracebacks(logging.Filter):
    """pynetdicom logs a traceback for every transport error while reading a PDU; the
    harness names that error in one line (:attr:`Negotiation.wire_problem`), so the
    traceback is dropped and the record kept as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            if record.msg is record.exc_info[1]:
                return False  # LOGGER.exception(exc): the exception text again
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("pynetdicom.dul").addFilter(_NoTransportTracebacks())


def guard_reads(assoc: Association, negotiation: Negotiation) -> None:
    """Bound every PDU read of the association in time and size, and name what went wrong.

    pynetdicom reads a PDU header, then blocks until the whole length it declares has
    arrived, with only an idle timeout per ``recv``: a peer sending one byte a second, or
    declaring 4 GB and sending 100 bytes, holds its reactor thread (and any abort) for
    ever, and a huge declared length grows memory without limit. This replaces the
    socket's ``recv`` with one that gives a PDU ``network_wait`` seconds to arrive once
    its header is read, refuses a declared length above ``max_pdu_read`` and an unknown
    PDU type (PS3.8 9.3.1), notices a TCP reset, and gives up at once when the
    association is being killed. A refusal raises ``OSError``, which pynetdicom treats as
    the transport closing (its Evt17): the association aborts, and
    :attr:`Negotiation.wire_problem` says why.
    """
    assoc_socket = getattr(assoc.dul, "socket", None)
    sock = getattr(assoc_socket, "socket", None)
    if sock is None:
        return
    endpoint = negotiation.endpoint
    state = {"header": True}

    def problem(text: str) -> None:
        if negotiation.wire_problem is None and not negotiation.releasing:
            negotiation.wire_problem = text

    def recv(nr_bytes: int) -> bytearray:
        is_header = state["header"] and nr_bytes == 6
        if not is_header and nr_bytes > endpoint.max_pdu_read:
            problem(
                f"the peer sent a PDU declaring {nr_bytes} bytes, more than the "
                f"{endpoint.max_pdu_read} the harness reads (target.max_pdu_read)"
            )
            raise OSError("PDU too large")
        deadline = time.monotonic() + endpoint.network_wait
        data = bytearray()
        previous = sock.gettimeout()
        try:
            while len(data) < nr_bytes:
                if getattr(assoc.dul, "_kill_thread", False):
                    raise OSError("association killed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    problem(
                        f"a PDU did not arrive whole within {endpoint.network_wait:g} s "
                        f"(network timeout, target.network_timeout): {len(data)} of "
                        f"{nr_bytes} {'header ' if is_header else ''}bytes received"
                    )
                    raise TimeoutError("PDU read timeout")
                sock.settimeout(min(remaining, 0.25))
                try:
                    chunk = sock.recv(min(65536, nr_bytes - len(data)))
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    problem(
                        "the peer reset the TCP connection (RST)"
                        + (f" after {len(data)} of {nr_bytes} bytes of a PDU" if data else "")
                    )
                    raise
                if not chunk:
                    if data or not is_header:
                        problem(
                            f"the peer closed the TCP connection in the middle of a PDU "
                            f"({len(data)} of {nr_bytes} bytes received)"
                        )
                    return data
                data += chunk
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(previous)
        if is_header:
            if data[0] not in PDU_TYPES:
                problem(
                    f"the peer sent a PDU of unknown type {data[0]:02X}H "
                    "(PS3.8 9.3.1: types 01H-07H)"
                )
                raise OSError("unknown PDU type")
            state["header"] = int.from_bytes(data[2:6], "big") == 0
        else:
            state["header"] = True
        return data

    assoc_socket.recv = recv


@contextlib.contextmanager
def open_association(
    endpoint: Endpoint,
    calling_ae: str,
    contexts: Sequence[tuple[str, Sequence[str]]],
    *,
    called_ae: str | None = None,
    max_pdu: int = 16384,
    transcript: Transcript | None = None,
    scp_roles: Sequence[str] = (),
    handlers: Sequence[tuple] = (),
) -> Iterator[tuple[Association, Negotiation]]:
    """Propose ``contexts`` (abstract syntax, transfer syntaxes) and yield the association
    with its :class:`Negotiation`; the association is released (or aborted) on exit.
    ``scp_roles``: SOP classes the requester also plays SCP for, by SCP/SCU Role
    Selection (PS3.7 D.3.3.4; the C-STORE sub-operations of a C-GET, PS3.4 C.4.3);
    ``handlers``: further pynetdicom event handlers (e.g. EVT_C_STORE for them)."""
    ae = AE(ae_title=calling_ae)
    ae.connection_timeout = endpoint.connect_timeout
    ae.acse_timeout = endpoint.acse_wait
    ae.dimse_timeout = endpoint.dimse_timeout
    ae.network_timeout = endpoint.network_wait
    ae.maximum_pdu_size = max_pdu
    for abstract_syntax, syntaxes in contexts:
        ae.add_requested_context(abstract_syntax, list(syntaxes))
    negotiation = Negotiation(endpoint)
    negotiation.proposed = [
        (2 * i + 1, str(cx.abstract_syntax), list(cx.transfer_syntax))
        for i, cx in enumerate(ae.requested_contexts)
    ]

    def on_open(event: evt.Event) -> None:
        negotiation.connected = True
        no_delay(event.assoc)
        guard_reads(event.assoc, negotiation)
        keep_responses_for_their_waiter(event.assoc)

    def on_sent(event: evt.Event) -> None:
        if event.pdu.__class__.__name__ in ("A_ABORT_RQ", "A_RELEASE_RQ"):
            negotiation.releasing = True  # what follows is the harness's own doing

    def on_close(event: evt.Event) -> None:
        if not negotiation.releasing and negotiation.accept is not None:
            negotiation.closed_by_peer = True

    def on_pdu(event: evt.Event) -> None:
        pdu = event.pdu
        if isinstance(pdu, A_ASSOCIATE_AC):
            negotiation.accept = [
                WireContext(
                    item.presentation_context_id or 0,
                    item.result_reason or 0,
                    str(item.transfer_syntax) if item.transfer_syntax else None,
                )
                for item in pdu.variable_items
                if isinstance(item, PresentationContextItemAC)
            ]
            for sub in pdu.user_information.user_data if pdu.user_information else []:
                if isinstance(sub, MaximumLengthSubItem):
                    negotiation.peer_max_pdu = sub.maximum_length_received
        elif isinstance(pdu, A_ASSOCIATE_RJ):
            negotiation.rejection = Rejection(pdu.result, pdu.source, pdu.reason_diagnostic)
        elif isinstance(pdu, A_ABORT_RQ) and not negotiation.releasing:
            negotiation.peer_abort = (pdu.source or 0, pdu.reason_diagnostic or 0)

    events: list = [
        (evt.EVT_CONN_OPEN, on_open),
        (evt.EVT_PDU_RECV, on_pdu),
        (evt.EVT_PDU_SENT, on_sent),
        (evt.EVT_CONN_CLOSE, on_close),
        *handlers,
    ]
    if transcript is not None:
        transcript.note(
            f"A-ASSOCIATE-RQ {calling_ae} -> {called_ae or endpoint.called_ae} at "
            f"{endpoint.host}:{endpoint.port}, {len(contexts)} presentation context(s), "
            f"max PDU {max_pdu}"
        )
        events += transcript.handlers()
    roles = [build_role(uid, scu_role=True, scp_role=True) for uid in scp_roles]
    assoc = ae.associate(
        endpoint.host,
        endpoint.port,
        ae_title=called_ae or endpoint.called_ae,
        max_pdu=max_pdu,
        ext_neg=roles or None,
        evt_handlers=events,
        tls_args=endpoint.tls_args,  # type: ignore[arg-type]
    )
    negotiation.aborted = assoc.is_aborted
    try:
        yield assoc, negotiation
    finally:
        troubled = negotiation.ended() is not None
        negotiation.releasing = True
        if assoc.is_established:
            # A peer that already misbehaved is not asked for an A-RELEASE-RP it may
            # never send: abort at once (PS3.8 7.3).
            assoc.abort() if troubled else assoc.release()
        ae.shutdown()
