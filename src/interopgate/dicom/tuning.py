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
* **DUL reactor delay** (``DULServiceProvider._run_loop_delay``, 1 ms): the idle sleep
  between reads of the socket; kept. Every PDU can wait up to 1 ms, and a lower value
  spins a core that the target shares on a 2-core machine (bench/results.md: 100 C-ECHO
  on one association 0.44 s, i.e. 4.4 ms a round trip with both sides' 1 ms).
* **Association reactor** (1 ms loop) and the 0.1 s pause in ``Association.abort()``:
  fixed in pynetdicom; the harness releases (A-RELEASE) on the good path and aborts only
  a peer that misbehaves, so the pause is paid on failures only.
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

import threading

from pynetdicom import _config
from pynetdicom.transport import ThreadedAssociationServer
from pynetdicom.utils import make_target

_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

SERVER_POLL_S = 0.02
SERVER_GC_S = 30.0


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
