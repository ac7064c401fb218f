"""TCP connections rebuilt from the bytes a socket carried, written as pcapng (Wireshark).

The harness sees byte streams, not packets: pynetdicom reports what it wrote to and read
from the association's socket (EVT_DATA_SENT / EVT_DATA_RECV), the MLLP client what it
sent and received. :class:`TcpConnection` turns such a stream back into Ethernet / IPv4 /
TCP frames (dpkt builds the headers and checksums): the three-way handshake (RFC 9293
3.5), the payload cut into segments of at most :data:`MSS` bytes with sequence numbers
that count every payload byte and every SYN/FIN, an ACK from the receiving side after
each burst, and the FIN exchange on close (RFC 9293 3.6). The payload bytes and their
times are the real ones; the segment boundaries and the ACKs are the rebuilt part.

Ports: Wireshark decodes DICOM on TCP port 104 and HL7 on 2575 without settings (its
``tcp.port`` decode table; its heuristics miss some streams, e.g. an HL7 message that
is not the first on a connection). A test target listens on a free port, so the
server's port is written as the protocol's well-known port (:data:`WELL_KNOWN_PORTS`)
and the real one is kept in a pcapng comment on the connection's SYN and in the section
header: ``tshark -r FILE -Y dicom`` / ``-Y hl7`` then work as they are. Addresses and the
client's port are the socket's own.
"""

from __future__ import annotations

import socket
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import dpkt
from dpkt import pcapng

# Wireshark's default ``tcp.port`` entries for the dissectors (``tshark -G decodes``).
WELL_KNOWN_PORTS = {"dicom": 104, "hl7": 2575}
MSS = 1460  # an Ethernet MTU of 1500 less 40 bytes of IPv4 and TCP headers
WINDOW = 65535  # no window scaling: acknowledged at least every WINDOW // 2 bytes
SNAPLEN = 65535
_TICK = 1e-6  # frames of one connection are at least one microsecond apart

CLIENT, SERVER = "client", "server"
_LITTLE = sys.byteorder == "little"


@dataclass(frozen=True)
class Packet:
    """One Ethernet frame, its capture time (seconds since the epoch) and a comment."""

    time: float
    frame: bytes
    comment: str = ""


class TcpConnection:
    """One TCP connection as a capture shows it, from its client's and server's address.

    ``protocol`` ("dicom" or "hl7") picks the server port written in the frames. Call
    :meth:`data` with the bytes each side sent, in the order the socket saw them, and
    :meth:`close` when a side closed; :attr:`packets` are the frames so far.
    """

    def __init__(
        self,
        client: tuple[str, int],
        server: tuple[str, int],
        protocol: str,
        time: float,
        comment: str = "",
    ) -> None:
        self.client = client
        self.server = server
        self.protocol = protocol
        wire_port = WELL_KNOWN_PORTS.get(protocol, server[1])
        self.wire = {CLIENT: (client[0], client[1]), SERVER: (server[0], wire_port)}
        mapped = (
            f"; server port {server[1]} written as {wire_port} (Wireshark's {protocol} port)"
            if wire_port != server[1]
            else ""
        )
        self.comment = (
            f"{protocol.upper()} {client[0]}:{client[1]} -> {server[0]}:{server[1]}{mapped}"
        )
        if comment:
            self.comment += f"; {comment}"
        key = f"{client}{server}{time}".encode()
        # Initial sequence numbers: any 32-bit value (RFC 9293 3.4.1); fixed per connection.
        self.seq = {CLIENT: zlib.crc32(key + b"c"), SERVER: zlib.crc32(key + b"s")}
        self.unacked = {CLIENT: 0, SERVER: 0}
        self.fin = {CLIENT: False, SERVER: False}
        self.packets: list[Packet] = []
        self._time = time - 3 * _TICK
        self._segment(CLIENT, dpkt.tcp.TH_SYN, b"", time - 3 * _TICK, self.comment)
        self._segment(SERVER, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, b"", time - 2 * _TICK)
        self._segment(CLIENT, dpkt.tcp.TH_ACK, b"", time - _TICK)

    @property
    def closed(self) -> bool:
        return self.fin[CLIENT] and self.fin[SERVER]

    def data(self, side: str, payload: bytes, time: float) -> None:
        """``payload`` sent by ``side`` at ``time``: segments, then the peer's ACK."""
        if not payload or self.fin[side]:
            return
        for start in range(0, len(payload), MSS):
            chunk = payload[start : start + MSS]
            last = start + MSS >= len(payload)
            flags = dpkt.tcp.TH_ACK | (dpkt.tcp.TH_PUSH if last else 0)
            self._segment(side, flags, chunk, time)
            if self.unacked[side] >= WINDOW // 2:
                self._ack(_other(side), time)
        self._ack(_other(side), time)

    def close(self, side: str, time: float) -> None:
        """``side`` closed: its FIN, and the peer's ACK (RFC 9293 3.6)."""
        if self.fin[side]:
            return
        self._segment(side, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK, b"", time)
        self._segment(_other(side), dpkt.tcp.TH_ACK, b"", time)

    def finish(self, time: float) -> None:
        """Both sides closed, the client first unless the server already had."""
        first = SERVER if self.fin[SERVER] else CLIENT
        self.close(first, time)
        self.close(_other(first), time)

    def _ack(self, side: str, time: float) -> None:
        if self.unacked[_other(side)]:
            self._segment(side, dpkt.tcp.TH_ACK, b"", time)

    def _segment(self, side: str, flags: int, payload: bytes, time: float, comment: str = ""):
        peer = _other(side)
        src, dst = self.wire[side], self.wire[peer]
        syn = bool(flags & dpkt.tcp.TH_SYN)
        # A SYN carries no ACK number until the peer's ISN is known (RFC 9293 3.4).
        ack = (self.seq[peer] if flags & dpkt.tcp.TH_ACK else 0) & 0xFFFFFFFF
        tcp = dpkt.tcp.TCP(
            sport=src[1],
            dport=dst[1],
            seq=self.seq[side] & 0xFFFFFFFF,
            ack=ack,
            flags=flags,
            win=WINDOW,
            data=payload,
        )
        if syn:  # MSS option (kind 2, RFC 9293 3.7.1): the segment size used below
            tcp.opts = b"\x02\x04" + MSS.to_bytes(2, "big")
            tcp.off = 6
        ip = dpkt.ip.IP(
            src=socket.inet_aton(src[0]),
            dst=socket.inet_aton(dst[0]),
            p=dpkt.ip.IP_PROTO_TCP,
            ttl=64,
            df=1,
            data=tcp,
        )
        ip.len = len(ip)
        ethernet = dpkt.ethernet.Ethernet(
            src=b"\x00" * 6, dst=b"\x00" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip
        )
        self._time = max(time, self._time + _TICK)
        self.packets.append(Packet(self._time, bytes(ethernet), comment))
        self.seq[side] += len(payload) + (1 if syn or flags & dpkt.tcp.TH_FIN else 0)
        self.unacked[side] += len(payload)
        if flags & dpkt.tcp.TH_ACK:
            self.unacked[peer] = 0
        if flags & dpkt.tcp.TH_FIN:
            self.fin[side] = True


def _other(side: str) -> str:
    return SERVER if side == CLIENT else CLIENT


def _option(code: int, data: bytes) -> pcapng.PcapngOption:
    kind = pcapng.PcapngOptionLE if _LITTLE else pcapng.PcapngOption
    return kind(code=code, data=data)


def _options(*pairs: tuple[int, str]) -> list[pcapng.PcapngOption]:
    opts = [_option(code, text.encode("utf-8")) for code, text in pairs if text]
    return [*opts, _option(pcapng.PCAPNG_OPT_ENDOFOPT, b"")] if opts else []


class PcapngFile:
    """A pcapng file written packet by packet (appending keeps a run's file current)."""

    def __init__(self, path: Path, comment: str = "") -> None:
        from interopgate import __version__

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: BinaryIO = path.open("wb")
        shb_kind = pcapng.SectionHeaderBlockLE if _LITTLE else pcapng.SectionHeaderBlock
        idb_kind = (
            pcapng.InterfaceDescriptionBlockLE if _LITTLE else pcapng.InterfaceDescriptionBlock
        )
        shb = shb_kind(
            opts=_options(
                (pcapng.PCAPNG_OPT_COMMENT, comment),
                (pcapng.PCAPNG_OPT_SHB_USERAPPL, f"interopgate {__version__}"),
            )
        )
        idb = idb_kind(
            snaplen=SNAPLEN,
            linktype=dpkt.pcap.DLT_EN10MB,
            opts=_options((pcapng.PCAPNG_OPT_IF_NAME, "interopgate (rebuilt from socket data)")),
        )
        self._writer = pcapng.Writer(self._file, snaplen=SNAPLEN, shb=shb, idb=idb)
        self._epb = pcapng.EnhancedPacketBlockLE if _LITTLE else pcapng.EnhancedPacketBlock

    def write(self, packets: list[Packet]) -> None:
        for packet in packets:
            block = self._epb(pkt_data=packet.frame, opts=_options((1, packet.comment)))
            self._writer.writepkt(block, ts=packet.time)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PcapngFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcapng(path: Path, packets: list[Packet], comment: str = "") -> Path:
    with PcapngFile(path, comment) as out:
        out.write(packets)
    return path
