"""pynetdicom's waits that trade polling for latency, chosen here and nowhere else.

pynetdicom runs each association on threads that poll; where it sleeps or polls decides
how long a message or a shutdown waits. What the harness sets, and why:

* **Server poll** (``SERVER_POLL_S``): an SCP's accept loop (socketserver
  ``serve_forever``) checks for shutdown every ``poll_interval``; pynetdicom leaves
  socketserver's 0.5 s, so stopping a listener took 0-0.5 s (0.3 s measured, each of the
  site's, the device listener's and the emulator's). The self-tests start and stop the
  embedded site hundreds of times; 20 ms costs 50 idle wake-ups a second and makes a stop
  immediate. :func:`start_server` is ``AE.start_server(block=False)`` with it.
  pynetdicom's server also runs a full ``gc.collect()`` every 60th turn of that loop (to
  reap dead association threads): 30 s at socketserver's 0.5 s, but every 1.2 s at 20 ms,
  and a collection in a process holding many datasets takes tens of milliseconds. The
  collection keeps its own clock here (``SERVER_GC_S``, pynetdicom's 30 s).
* **Reactor idle waits** (``IDLE_SLICE_S``, ``IDLE_PASS_S``): each association has two
  threads that poll every 1 ms while nothing happens: the DUL reactor
  (``DULServiceProvider._run_loop_delay``) and the association reactor (a fixed
  ``time.sleep(0.001)`` in ``Association._run_reactor``). A pass of either loop checks
  timers and queues in Python (two raised-and-caught ``queue.Empty`` among them): four
  idle associations (eight ends) cost 1.45 CPU-s in 3 s, 0.51 with these waits. When a
  loop finds nothing to do, it now waits here instead, for at most ``IDLE_PASS_S``
  before its next full pass, in 1 ms slices that
  each check only what could end the wait: the DUL wakes as soon as the socket is
  readable (``poll``) or the user queued a primitive or event; the association reactor as
  soon as a request or an ACSE primitive is queued, or a caller asks it to pause. What
  a PDU waits for is unchanged (a primitive to send: <= 1 ms, as before; a received
  PDU: at once, instead of <= 1 ms); the timers the full pass checks (ARTIM, the
  network idle timeout: seconds) are read up to ``IDLE_PASS_S`` late. Where the wait
  does not apply (another thread, no socket, Sta1/Sta13, or woken twice within a slice
  with nothing done) pynetdicom's own sleep runs. The 0.1 s pause in
  ``Association.abort()`` is pynetdicom's: the harness releases (A-RELEASE) on the good
  path and aborts only a peer that misbehaves.
* **Identifier logging** (``_config.LOG_REQUEST_IDENTIFIERS`` /
  ``LOG_RESPONSE_IDENTIFIERS``): off. pynetdicom formats every C-FIND, C-GET and C-MOVE
  identifier it sends or receives with ``pretty_dataset`` for its debug log, and does so
  before the logger decides whether anyone listens (nobody does unless pynetdicom's log
  level is DEBUG): ~3 % of a suite run's CPU. A failed check's pcapng (evidence/) holds
  every identifier as it was on the wire.
* **Timeouts** (ACSE, DIMSE, network, connection) are not polling knobs: they come from
  the profile (``target.*``, dicom/association.py).
* **TCP_NODELAY** on every association socket: dicom/association.no_delay.
"""

from __future__ import annotations

import select
import threading
import time

from pynetdicom import _config
from pynetdicom import association as _association
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.transport import ThreadedAssociationServer
from pynetdicom.utils import make_target

_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

SERVER_POLL_S = 0.02
SERVER_GC_S = 30.0
IDLE_SLICE_S = 0.001  # pynetdicom's own loop delay: no added latency
IDLE_PASS_S = 0.02  # the longest idle wait before a loop makes a full pass again
_REACTOR_SLEEP_S = 0.001  # the literal in Association._run_reactor
_NO_WAIT_STATES = ("Sta1", "Sta13")  # no connection yet, or closing it (PS3.8 9.2)
_POLL_MASK = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


class _QuickStopServer(ThreadedAssociationServer):
    """pynetdicom's threaded SCP server, polling for shutdown every SERVER_POLL_S and
    collecting garbage every SERVER_GC_S."""

    def serve_forever(self, poll_interval: float = SERVER_POLL_S) -> None:
        self._gc[1] = round(SERVER_GC_S / poll_interval) - 1  # turns between collections
        super().serve_forever(poll_interval)


def start_server(ae, address, **kwargs) -> ThreadedAssociationServer:
    """``ae.start_server(address, block=False, **kwargs)`` with :data:`SERVER_POLL_S`:
    the same server class pynetdicom makes, on a daemon thread, known to ``ae`` so that
    ``ae.shutdown()`` stops it too."""
    server = ae.make_server(address, server_class=_QuickStopServer, **kwargs)
    thread = threading.Thread(
        target=make_target(server.serve_forever), name=f"AcceptorServer@{address[1]}"
    )
    thread.daemon = True
    thread.start()
    ae._servers.append(server)  # what start_server does: ae.shutdown() stops it
    return server


# ------------------------------------------------------------------ reactor idle waits
# pynetdicom has no hook for how its reactors wait, so the two waits are replaced here
# (written by hand for that reason): the DUL's delay is a property
# read just before its idle sleep, and the association module's ``time`` is a proxy
# whose ``sleep`` differs only for the reactor's 1 ms sleep on an association's thread.


def _dul_loop_delay(dul: DULServiceProvider) -> float:
    """What the DUL reactor sleeps after a pass that found nothing to do: 0 after
    waiting here until there may be something, else pynetdicom's delay."""
    base = dul.__dict__.get("_ig_loop_delay", IDLE_SLICE_S)
    if threading.current_thread() is not dul:
        return base  # stop_dul() waiting for the thread to end
    now = time.monotonic()
    if now - dul.__dict__.get("_ig_woken", 0.0) < IDLE_SLICE_S:
        return base  # woken a moment ago and nothing was done: never spin
    sock = getattr(dul.socket, "socket", None)
    if sock is None or dul.state_machine.current_state in _NO_WAIT_STATES:
        return base
    try:
        fd = sock.fileno()
    except OSError:
        return base
    if fd < 0:
        return base
    poller = select.poll()
    poller.register(fd, _POLL_MASK)
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
    outbox, events = dul.to_provider_queue.queue, dul.event_queue.queue
    deadline = now + IDLE_PASS_S
    slice_ms = max(1, round(IDLE_SLICE_S * 1000))
    while not (outbox or events or dul._kill_thread):
        if (pending is not None and pending()) or poller.poll(slice_ms):
            break
        if time.monotonic() >= deadline:
            return 0.0
    dul.__dict__["_ig_woken"] = time.monotonic()
    return 0.0


def _set_dul_loop_delay(dul: DULServiceProvider, value: float) -> None:
    dul.__dict__["_ig_loop_delay"] = value


DULServiceProvider._run_loop_delay = property(_dul_loop_delay, _set_dul_loop_delay)  # type: ignore[assignment]


def _reactor_idle(assoc: Association) -> None:
    """The association reactor's idle sleep: 1 ms slices until a request or an ACSE
    primitive is queued, a caller pauses the reactor, it is killed, or IDLE_PASS_S."""
    requests = assoc.dimse.msg_queue.queue
    primitives = assoc.dul.to_user_queue.queue
    checkpoint = assoc._reactor_checkpoint
    deadline = time.monotonic() + IDLE_PASS_S
    while True:
        time.sleep(IDLE_SLICE_S)
        if assoc._kill or not checkpoint.is_set() or primitives:
            return
        if requests and getattr(requests[0][1], "is_valid_request", False):
            return
        if time.monotonic() >= deadline:
            return


class _ReactorClock:
    """``time`` for pynetdicom's association module: the same module, except that the
    reactor's 1 ms idle sleep on an association's own thread is :func:`_reactor_idle`."""

    def __getattr__(self, name: str):
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        thread = threading.current_thread()
        if (
            seconds == _REACTOR_SLEEP_S
            and isinstance(thread, Association)
            and thread.dul.is_alive()
        ):
            _reactor_idle(thread)
        else:
            time.sleep(seconds)


_association.time = _ReactorClock()  # type: ignore[attr-defined]
