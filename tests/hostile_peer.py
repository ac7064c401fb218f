"""Scripted misbehaving peers for the self-tests: a DICOM SCP and an MLLP receiver.

The DICOM peer speaks just enough of PS3.8 to pass the pre-flight -- it answers the
A-ASSOCIATE-RQ with an A-ASSOCIATE-AC built with pynetdicom's PDU classes, C-ECHO and
C-STORE with success, A-RELEASE-RQ with A-RELEASE-RP -- and then misbehaves in its
C-FIND answers as its ``script`` says. Written on raw sockets rather than as a
pynetdicom SCP because pynetdicom would never put these bytes on the wire.

Both peers are threads of the test process; :meth:`stop` closes every socket and joins
every thread, so a self-test can also prove that nothing was left running.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import ImplementationClassUIDNotification, MaximumLengthNotification

# What the DICOM peer does to a C-FIND (all other requests are answered correctly).
DICOM_SCRIPTS = (
    "ok",  # PENDING responses, then 0000H
    "abort",  # PENDING responses, then an A-ABORT (source 2)
    "reset",  # PENDING responses, then half a PDU and a TCP reset
    "huge-length",  # a P-DATA-TF declaring 4 GB, 100 bytes of it, then silence
    "short-data",  # a P-DATA-TF declaring 200 KB, 100 bytes of it, then silence
    "unknown-pdu",  # a PDU of type 0x09
    "wrong-message-id",  # responses answering another Message ID
    "endless",  # PENDING responses that never end
    "no-final",  # PENDING responses, then silence
    "one-byte-per-second",  # the responses trickle at one byte a second
    "silent-store",  # C-FIND answered well, C-STORE never answered
)
MLLP_SCRIPTS = ("no-fs", "garbage", "huge-frame", "one-byte-per-second")

PENDING = 3
PEER_MAX_PDU = 16384


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _encode(ds: Dataset, implicit: bool = True) -> bytes:
    out = DicomBytesIO()
    out.is_little_endian = True
    out.is_implicit_VR = implicit
    write_dataset(out, ds)
    return out.getvalue()


def _command(fields: dict) -> bytes:
    """A command set (PS3.7 6.3.1, always Implicit VR Little Endian) with its group length."""
    ds = Dataset()
    for keyword, value in fields.items():
        setattr(ds, keyword, value)
    body = _encode(ds)
    ds.CommandGroupLength = len(body)
    return _encode(ds)


def _pdata(context_id: int, payload: bytes, command: bool) -> bytes:
    """One P-DATA-TF PDU with one last-fragment PDV (PS3.8 9.3.5, E.2)."""
    header = 0x03 if command else 0x02
    pdv = struct.pack(">LBB", len(payload) + 2, context_id, header) + payload
    return struct.pack(">BBL", 0x04, 0, len(pdv)) + pdv


class _Association:
    """One connection to the DICOM peer."""

    def __init__(self, peer: HostileDicomPeer, sock: socket.socket) -> None:
        self.peer = peer
        self.sock = sock
        self.implicit: dict[int, bool] = {}
        self.fragments: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
        self.command: Dataset | None = None
        self.context_id = 1

    def send(self, data: bytes) -> None:
        if self.peer.script == "one-byte-per-second" and self.command is not None:
            for i in range(len(data)):
                if self.peer.stopping.wait(1.0):
                    return
                self.sock.sendall(data[i : i + 1])
            return
        self.sock.sendall(data)

    def serve(self) -> None:
        while not self.peer.stopping.is_set():
            header = _read_exactly(self.sock, 6)
            if header is None:
                return
            pdu_type, _, length = struct.unpack(">BBL", header)
            body = _read_exactly(self.sock, min(length, 1 << 20))
            if body is None:
                return
            if pdu_type == 0x01:
                self.accept(header + body)
            elif pdu_type == 0x04:
                if self.pdata(body) is False:
                    return
            elif pdu_type == 0x05:
                self.sock.sendall(bytes.fromhex("06000000000400000000"))
                return
            else:
                return

    def accept(self, pdu: bytes) -> None:
        request = A_ASSOCIATE_RQ()
        request.decode(pdu)
        primitive = request.to_primitive()
        results = []
        for context in primitive.presentation_context_definition_list:
            context.result = 0
            syntax = context.transfer_syntax[0]
            context.transfer_syntax = [syntax]
            self.implicit[context.context_id] = syntax == ImplicitVRLittleEndian
            results.append(context)
        primitive.presentation_context_definition_results_list = results
        primitive.result = 0
        maximum = MaximumLengthNotification()
        maximum.maximum_length_received = PEER_MAX_PDU
        implementation = ImplementationClassUIDNotification()
        implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.7433.99"
        primitive.user_information = [maximum, implementation]
        accept = A_ASSOCIATE_AC()
        accept.from_primitive(primitive)
        self.sock.sendall(accept.encode())

    def pdata(self, body: bytes) -> bool | None:
        offset = 0
        while offset + 6 <= len(body):
            length, context_id, control = struct.unpack(">LBB", body[offset : offset + 6])
            self.context_id = context_id
            is_command, last = bool(control & 1), bool(control & 2)
            self.fragments[is_command] += body[offset + 6 : offset + 4 + length]
            offset += 4 + length
            if not last:
                continue
            if is_command:
                self.command = read_dataset(io.BytesIO(bytes(self.fragments[True])), True, True)
                self.fragments[True] = bytearray()
                if self.command.CommandDataSetType != 0x0101:
                    continue  # the data set follows
                data = b""
            else:
                data = bytes(self.fragments[False])
                self.fragments[False] = bytearray()
            if self.command is not None and self.answer(self.command, data) is False:
                return False
        return None

    def answer(self, command: Dataset, data: bytes) -> bool | None:
        field = command.CommandField
        message_id = command.MessageID
        cx = self.context_id
        if field == 0x0030:  # C-ECHO-RQ
            self.command = None
            rsp = _command(
                {
                    "AffectedSOPClassUID": command.AffectedSOPClassUID,
                    "CommandField": 0x8030,
                    "MessageIDBeingRespondedTo": message_id,
                    "CommandDataSetType": 0x0101,
                    "Status": 0,
                }
            )
            self.sock.sendall(_pdata(cx, rsp, True))
            return None
        if field == 0x0001:  # C-STORE-RQ
            self.command = None
            if self.peer.script == "silent-store":
                return self.hold()
            rsp = _command(
                {
                    "AffectedSOPClassUID": command.AffectedSOPClassUID,
                    "CommandField": 0x8001,
                    "MessageIDBeingRespondedTo": message_id,
                    "CommandDataSetType": 0x0101,
                    "Status": 0,
                    "AffectedSOPInstanceUID": command.AffectedSOPInstanceUID,
                }
            )
            self.sock.sendall(_pdata(cx, rsp, True))
            return None
        if field == 0x0FFF:  # C-CANCEL-RQ: ignored, as a hostile peer would
            self.command = None
            return None
        if field != 0x0020:
            return False
        return self.find(command, data)

    def find(self, command: Dataset, identifier: bytes) -> bool | None:
        script = self.peer.script
        cx = self.context_id
        answered = message_id = command.MessageID
        if script == "wrong-message-id":
            answered = message_id + 7

        def response(status: int, with_data: bool) -> bytes:
            fields = {
                "AffectedSOPClassUID": command.AffectedSOPClassUID,
                "CommandField": 0x8020,
                "MessageIDBeingRespondedTo": answered,
                "CommandDataSetType": 0x0001 if with_data else 0x0101,
                "Status": status,
            }
            pdu = _pdata(cx, _command(fields), True)
            return pdu + (_pdata(cx, identifier, False) if with_data else b"")

        if script == "endless":
            sent = 0
            while not self.peer.stopping.is_set():
                try:
                    self.sock.sendall(response(0xFF00, True))
                except OSError:
                    return False
                sent += 1
                if sent % 50 == 0:
                    time.sleep(0.001)
            return False
        if script == "unknown-pdu":
            self.sock.sendall(bytes.fromhex("0900000000040000 0000".replace(" ", "")))
            return self.hold()
        for _ in range(PENDING):
            self.send(response(0xFF00, True))
        if script == "abort":
            self.sock.sendall(bytes.fromhex("07000000000400000200"))
            return self.hold()
        if script == "reset":
            whole = response(0xFF00, True)
            self.sock.sendall(whole[: len(whole) // 2])
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            return False
        if script in ("huge-length", "short-data"):
            declared = 0xFFFFFFF0 if script == "huge-length" else 200_000
            self.sock.sendall(struct.pack(">BBL", 0x04, 0, declared) + bytes(100))
            return self.hold()
        if script == "no-final":
            return self.hold()
        self.send(response(0x0000, False))
        self.command = None
        return None

    def hold(self) -> bool:
        """Keep the connection open and silent until the peer is stopped (or the client
        closes it)."""
        self.sock.settimeout(0.2)
        while not self.peer.stopping.is_set():
            try:
                if not self.sock.recv(65536):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        return False


class _Peer:
    """A loopback listener serving each connection in a thread of its own."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name=f"hostile-{script}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            self.serve(sock)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


class HostileDicomPeer(_Peer):
    def __init__(self, script: str) -> None:
        if script not in DICOM_SCRIPTS:
            raise ValueError(script)
        super().__init__(script)

    def serve(self, sock: socket.socket) -> None:
        _Association(self, sock).serve()


class HostileMLLPPeer(_Peer):
    """An MLLP receiver that reads a frame and answers it badly."""

    def __init__(self, script: str, huge: int = 50 * 1024 * 1024) -> None:
        if script not in MLLP_SCRIPTS:
            raise ValueError(script)
        super().__init__(script)
        self.huge = huge

    def serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        buffer = b""
        while not self.stopping.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            buffer += chunk
            if b"\x1c\x0d" not in buffer:
                continue
            buffer = b""
            ack = b"MSH|^~\\&|HOSTILE|X|IG|IG|20240101000000||ACK|1|P|2.5\rMSA|AA|1\r"
            if self.script == "no-fs":
                sock.sendall(b"\x0b" + ack)
            elif self.script == "garbage":
                chunk = bytes(range(256)).replace(b"\x0b", b"").replace(b"\x1c", b"") * 64
                while not self.stopping.is_set():
                    sock.sendall(chunk)
            elif self.script == "huge-frame":
                body = b"MSH|" + b"X" * 65536
                sent = 0
                sock.sendall(b"\x0b")
                while sent < self.huge and not self.stopping.is_set():
                    sock.sendall(body)
                    sent += len(body)
                sock.sendall(b"\x1c\x0d")
            elif self.script == "one-byte-per-second":
                # The first byte at once, then one a second: the client (1 s ACK wait)
                # has part of a frame when it gives up, however loaded the machine.
                for byte in b"\x0b" + ack + b"\x1c\x0d":
                    sock.sendall(bytes([byte]))
                    if self.stopping.wait(1.0):
                        return
