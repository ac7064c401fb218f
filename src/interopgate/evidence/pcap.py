"""TCP connections rebuilt from the bytes a socket carried, written as pcapng (Wireshark).

The harness sees byte streams, not packets: pynetdicom reports what it wrote to and read
from the association's socket (EVT_DATA_SENT / EVT_DATA_RECV), the MLLP client what it
sent and received. :class:`TcpConnection` turns such a stream back into Ethernet / IPv4 /
TCP frames (:func:`tcp_frame` packs the headers and checksums): the three-way handshake (RFC 9293
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
import struct
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
        syn = bool(flags & dpkt.tcp.TH_SYN)
        # A SYN carries no ACK number until the peer's ISN is known (RFC 9293 3.4).
        ack = self.seq[peer] if flags & dpkt.tcp.TH_ACK else 0
        frame = tcp_frame(self.wire[side], self.wire[peer], self.seq[side], ack, flags, payload)
        self._time = max(time, self._time + _TICK)
        self.packets.append(Packet(self._time, frame, comment))
        self.seq[side] += len(payload) + (1 if syn or flags & dpkt.tcp.TH_FIN else 0)
        self.unacked[side] += len(payload)
        if flags & dpkt.tcp.TH_ACK:
            self.unacked[peer] = 0
        if flags & dpkt.tcp.TH_FIN:
            self.fin[side] = True


# Header layouts: Ethernet II (IEEE 802.3 3.1.1: destination, source, EtherType), IPv4
# (RFC 791 3.1: version/IHL, TOS, total length, identification, flags/fragment offset,
# TTL, protocol, header checksum, source, destination), TCP (RFC 9293 3.1: ports, sequence
# and acknowledgment numbers, data offset, flags, window, checksum, urgent pointer).
_ETHERNET = struct.pack("!6s6sH", b"\x00" * 6, b"\x00" * 6, dpkt.ethernet.ETH_TYPE_IP)
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_IP_DF = 0x4000  # "don't fragment" (RFC 791 3.1)
_TTL = 64
# The MSS option (kind 2, length 4, RFC 9293 3.7.1) on a SYN: the segment size used.
_SYN_OPTIONS = b"\x02\x04" + MSS.to_bytes(2, "big")


def internet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): the one's complement of the one's complement sum
    of the 16-bit big-endian words, an odd last byte padded with zero.

    Written by hand, not taken from dpkt, for speed: every frame of a run's capture has
    two, and dpkt's packet objects cost ~75 us a frame. As 2**16 = 1 (mod 0xFFFF), the
    words' one's complement sum is the data read as one big-endian integer, mod 0xFFFF
    (0xFFFF, not 0, for data that is not all zero: RFC 1071 1(2))."""
    if len(data) % 2:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    if total == 0 and value:
        total = 0xFFFF
    return ~total & 0xFFFF


def tcp_frame(
    src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int, payload: bytes
) -> bytes:
    """One Ethernet / IPv4 / TCP frame, both checksums computed (the frame dpkt builds from
    the same fields; tests/test_pcap.py holds the two byte for byte)."""
    src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    options = _SYN_OPTIONS if flags & dpkt.tcp.TH_SYN else b""
    header_words = 5 + len(options) // 4
    segment_length = 4 * header_words + len(payload)
    header = _TCP.pack(
        src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, header_words << 4, flags, WINDOW, 0, 0
    )
    # The TCP checksum covers a pseudo-header: source, destination, zero, protocol and the
    # segment's length (RFC 9293 3.1).
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, dpkt.ip.IP_PROTO_TCP, segment_length)
    checksum = internet_checksum(pseudo + header + options + payload)
    tcp = header[:16] + checksum.to_bytes(2, "big") + header[18:] + options
    total_length = 20 + segment_length
    ip = _IPV4.pack(0x45, 0, total_length, 0, _IP_DF, _TTL, dpkt.ip.IP_PROTO_TCP, 0, src_ip, dst_ip)
    ip = ip[:10] + internet_checksum(ip).to_bytes(2, "big") + ip[12:]
    return _ETHERNET + ip + tcp + payload


def _other(side: str) -> str:
    return SERVER if side == CLIENT else CLIENT


def _option(code: int, data: bytes) -> pcapng.PcapngOption:
    kind = pcapng.PcapngOptionLE if _LITTLE else pcapng.PcapngOption
    return kind(code=code, data=data)


def _options(*pairs: tuple[int, str]) -> list[pcapng.PcapngOption]:
    opts = [_option(code, text.encode("utf-8")) for code, text in pairs if text]
    return [*opts, _option(pcapng.PCAPNG_OPT_ENDOFOPT, b"")] if opts else []


_ORDER = "<" if _LITTLE else ">"  # dpkt's Writer writes the host's byte order
_EPB_HEAD = struct.Struct(_ORDER + "7I")
_OPTION_HEAD = struct.Struct(_ORDER + "HH")
_BLOCK_LENGTH = struct.Struct(_ORDER + "I")
_EPB = 6  # block type: Enhanced Packet Block
_OPT_COMMENT = 1
_END_OF_OPTIONS = b"\0\0\0\0"


def enhanced_packet_block(frame: bytes, time: float, comment: str = "") -> bytes:
    """One Enhanced Packet Block on interface 0 (pcapng, IETF draft-ietf-opsawg-pcapng
    §4.3): timestamp in microseconds (the interface's default resolution), the frame
    padded to 32 bits, an opt_comment if there is one, then opt_endofopt. Packed here
    because a run writes every frame of every check into its run.pcapng, and dpkt's
    block objects cost ~15 µs a frame; tests/test_pcap.py holds the bytes to dpkt's."""
    ticks = round(time * 1e6)
    size = len(frame)
    options = b""
    if comment:
        text = comment.encode("utf-8")
        options = (
            _OPTION_HEAD.pack(_OPT_COMMENT, len(text))
            + text
            + b"\0" * (-len(text) % 4)
            + _END_OF_OPTIONS
        )
    padding = b"\0" * (-size % 4)
    total = _EPB_HEAD.size + size + len(padding) + len(options) + _BLOCK_LENGTH.size
    head = _EPB_HEAD.pack(_EPB, total, 0, ticks >> 32, ticks & 0xFFFFFFFF, size, size)
    return b"".join((head, frame, padding, options, _BLOCK_LENGTH.pack(total)))


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

    def write(self, packets: list[Packet]) -> None:
        self._file.write(
            b"".join(enhanced_packet_block(p.frame, p.time, p.comment) for p in packets)
        )
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
