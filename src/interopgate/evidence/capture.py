"""A check's wire capture: every DICOM association and MLLP connection it made, as TCP.

Fed from the same places the transcript is: pynetdicom's EVT_CONN_OPEN, EVT_DATA_SENT,
EVT_DATA_RECV and EVT_CONN_CLOSE (the raw bytes of every PDU, bound as handlers, never
monkeypatched) and the MLLP client's ``tap`` (hl7/mllp.py). The frames are built by
:mod:`interopgate.evidence.pcap`; see there why the server port is written as 104 / 2575.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pynetdicom import evt

from interopgate.evidence.pcap import CLIENT, SERVER, Packet, TcpConnection, write_pcapng


class Capture:
    """The TCP connections of one check; :meth:`packets` in time order, :meth:`write`."""

    def __init__(self, title: str, note: Callable[[str], None] | None = None) -> None:
        self.title = title
        self.note = note or (lambda text: None)
        self.connections: list[TcpConnection] = []
        self._open: dict[int, TcpConnection] = {}  # id(association or socket) -> connection
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ bookkeeping
    def _start(self, key: int, client, server, protocol: str, comment: str = "") -> None:
        with self._lock:
            connection = TcpConnection(client, server, protocol, time.time(), comment)
            self._open[key] = connection
            self.connections.append(connection)
        self.note(f"capture: {connection.comment}")

    def _data(self, key: int, side: str, data: bytes) -> None:
        with self._lock:
            connection = self._open.get(key)
            if connection is not None:
                connection.data(side, data, time.time())

    def _close(self, key: int, side: str, *, both: bool = True) -> None:
        """``side`` closed the connection; ``both``: it is gone (the local socket closed,
        so the peer's FIN follows), else only ``side``'s half is (the peer sent FIN)."""
        with self._lock:
            connection = self._open.get(key)
            if connection is None:
                return
            if both:
                connection.close(side, time.time())
                connection.finish(time.time())
                del self._open[key]
            else:
                connection.close(side, time.time())

    def packets(self) -> list[Packet]:
        """Every frame so far, ordered by time (stable, so each connection keeps its order)."""
        with self._lock:
            merged = [packet for c in self.connections for packet in c.packets]
        return sorted(merged, key=lambda packet: packet.time)

    def finish(self) -> None:
        """Close what is still open (the check ended with a connection up): FIN both ways."""
        with self._lock:
            for connection in self._open.values():
                connection.finish(time.time())
            self._open.clear()

    def write(self, path: Path) -> Path:
        return write_pcapng(path, self.packets(), self.header_comment())

    def header_comment(self) -> str:
        return (
            f"InteropGate wire evidence: {self.title}. TCP frames rebuilt from the bytes the "
            "harness's sockets sent and received (payload and times as they were); server "
            "ports written as 104 (DICOM) and 2575 (HL7) so Wireshark decodes them without "
            "Decode As; each connection's SYN carries its real addresses and ports."
        )

    # ------------------------------------------------------------------ DICOM
    def dicom_handlers(self) -> list[tuple[evt.NotificationEvent, Callable]]:
        """pynetdicom ``evt_handlers`` recording an association's raw bytes."""
        return [
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_DATA_SENT, lambda e: self._data(id(e.assoc), _sender(e.assoc), e.data)),
            (evt.EVT_DATA_RECV, lambda e: self._data(id(e.assoc), _receiver(e.assoc), e.data)),
            (evt.EVT_CONN_CLOSE, lambda e: self._close(id(e.assoc), _sender(e.assoc))),
        ]

    def _on_conn_open(self, event: evt.Event) -> None:
        assoc = event.assoc
        requestor = (assoc.requestor.address, assoc.requestor.port)
        acceptor = (assoc.acceptor.address, assoc.acceptor.port)
        role = "harness as association requestor" if assoc.is_requestor else "harness as SCP"
        self._start(id(assoc), requestor, acceptor, "dicom", role)

    # ------------------------------------------------------------------ MLLP
    def mllp_tap(self, event: str, sock: socket.socket, data: bytes) -> None:
        """The MLLP client's tap: ``open``, ``sent``, ``received`` (b"": the peer closed),
        ``closed``; the harness is the client of the connection."""
        key = id(sock)
        if event == "open":
            local, peer = sock.getsockname()[:2], sock.getpeername()[:2]
            self._start(key, local, peer, "hl7", "harness as MLLP sender")
        elif event == "sent":
            self._data(key, CLIENT, data)
        elif event == "received":
            if data:
                self._data(key, SERVER, data)
            else:
                self._close(key, SERVER, both=False)
        elif event == "closed":
            self._close(key, CLIENT)


def _sender(assoc) -> str:
    return CLIENT if assoc.is_requestor else SERVER


def _receiver(assoc) -> str:
    return SERVER if assoc.is_requestor else CLIENT
