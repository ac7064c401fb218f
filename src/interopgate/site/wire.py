"""A PDU relay in front of the reference SCP, for defects pynetdicom would never commit.

``wire`` faults (site/faults.py) need the site to put wrong bytes on the wire: a reject
reason, a context ID, a case-insensitive called AE comparison. pynetdicom has no hook
to alter an outgoing A-ASSOCIATE-AC, so the site listens here, forwards every PDU to the
real SCP and rewrites the few PDUs a fault concerns, using pynetdicom's own PDU
classes to decode and encode (PS3.8 9.3). The relay only runs while a wire fault is on.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_items import MaximumLengthSubItem, PresentationContextItemAC

from interopgate.site.faults import FaultSet

PDU_HEADER = 6  # type (1), reserved (1), length (4, big endian): PS3.8 9.3.1
# The Status element (0000,0900), VR US, length 2, as it appears in a command set.
MOVE_DESTINATION_UNKNOWN = bytes.fromhex("0000 0009 02000000 01a8")
UNABLE_TO_PROCESS = bytes.fromhex("0000 0009 02000000 00c0")
OVERSIZE_RQ = 32 * 1024  # wire-dies-on-oversize-associate-rq: a fixed read buffer


def read_pdu(sock: socket.socket) -> bytes | None:
    """Read one whole PDU, or None when the peer closed the connection."""
    header = _read_exactly(sock, PDU_HEADER)
    if header is None:
        return None
    body = _read_exactly(sock, int.from_bytes(header[2:6], "big"))
    return None if body is None else header + body


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = sock.recv(size - len(chunks))
        except OSError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class WireRelay:
    """Listens on a free loopback port and relays to ``upstream``, rewriting per fault."""

    def __init__(
        self, upstream: tuple[str, int], faults: FaultSet, site_ae: str, host: str = "127.0.0.1"
    ) -> None:
        self.upstream = upstream
        self.faults = faults
        self.site_ae = site_ae
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._stopping = threading.Event()
        self._hung = threading.Event()  # wire-hangs-on-p-data-before-association
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, name="wire-relay", daemon=True)

    def start(self) -> WireRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            if self._hung.is_set():
                time.sleep(0.1)  # the defect: nobody accepts any more
                continue
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            client.settimeout(None)
            for sock in (client, server):  # no Nagle delay on relayed PDUs (C-CANCEL)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            state: dict = {}  # what one connection saw: its first PDU, the AC's max length
            for src, dst, rewrite in (
                (client, server, self._rewrite_request),
                (server, client, self._rewrite_response),
            ):
                threading.Thread(
                    target=self._pump, args=(src, dst, rewrite, state), daemon=True
                ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        rewrite: Callable[[bytes, dict], bytes],
        state: dict,
    ):
        while True:
            pdu = read_pdu(src)
            if pdu is None:
                break
            try:
                dst.sendall(rewrite(pdu, state))
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _die(self) -> None:
        """The site's process gone: nothing listens, every connection drops."""
        self._stopping.set()
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _bad_input_faults(self, pdu: bytes, state: dict) -> bytes:
        """The robustness faults: a site that dies or hangs on input PS3.8 Annex A says
        it must refuse or abort, and one that never tests the protocol version."""
        first = state.setdefault("first", pdu[0])
        oversize_rq = pdu[0] == 0x01 and len(pdu) > OVERSIZE_RQ
        if oversize_rq and "wire-dies-on-oversize-associate-rq" in self.faults:
            self._die()
        early = pdu[0] == 0x04 and first == 0x04
        if early and "wire-hangs-on-p-data-before-association" in self.faults:
            self._hung.set()
        announced = state.get("max_length") or 0
        oversize = pdu[0] == 0x04 and announced and len(pdu) - PDU_HEADER > announced
        if oversize and "wire-dies-on-oversize-p-data" in self.faults:
            self._die()
        if pdu[0] == 0x01 and "wire-accepts-any-protocol-version" in self.faults:
            pdu = pdu[:6] + b"\x00\x01" + pdu[8:]
        return pdu

    def _rewrite_request(self, pdu: bytes, state: dict) -> bytes:
        pdu = self._bad_input_faults(pdu, state)
        if pdu[0] != 0x01 or "case-insensitive-ae" not in self.faults:
            return pdu
        request = A_ASSOCIATE_RQ()
        request.decode(pdu)
        if request.called_ae_title.strip().upper() == self.site_ae.strip().upper():
            request.called_ae_title = self.site_ae
        return request.encode()

    def _rewrite_response(self, pdu: bytes, state: dict) -> bytes:
        if pdu[0] == 0x02 and "wire-dies-on-oversize-p-data" in self.faults:
            state["max_length"] = _max_length(pdu)
        if pdu[0] == 0x04 and "move-unknown-destination-c000" in self.faults:
            # Status (0000,0900) US A801H in an Implicit VR LE command set (PS3.7 E.1),
            # rewritten in place to C000H: same length, group length unchanged.
            return pdu.replace(MOVE_DESTINATION_UNKNOWN, UNABLE_TO_PROCESS)
        if pdu[0] != 0x02 or not self.faults.any("wrong-reject-reason", "seven-bit-context-id"):
            return pdu
        accept = A_ASSOCIATE_AC()
        accept.decode(pdu)
        for item in accept.variable_items:
            if not isinstance(item, PresentationContextItemAC):
                continue
            if "wrong-reject-reason" in self.faults and item.result_reason == 3:
                item.result_reason = 1
            if "seven-bit-context-id" in self.faults and (item.presentation_context_id or 0) > 127:
                item.presentation_context_id = (item.presentation_context_id or 0) & 0x7F
        return accept.encode()


def _max_length(ac: bytes) -> int:
    """The Maximum Length Received an A-ASSOCIATE-AC announces (PS3.8 D.1; 0: none)."""
    accept = A_ASSOCIATE_AC()
    accept.decode(ac)
    for sub in accept.user_information.user_data if accept.user_information else []:
        if isinstance(sub, MaximumLengthSubItem):
            return sub.maximum_length_received or 0
    return 0
