"""Capture files → TCP streams (RFC 9293), with the frame and time each byte came in.

A site's capture is whatever tcpdump or Wireshark wrote: classic pcap or pcapng, one file
or a series rotated by time (``tcpdump -G``), Ethernet, Linux cooked (``-i any``), BSD
loopback or raw IP, IPv4 or IPv6. dpkt reads the files and decodes the headers; the
payload of each direction is put back in sequence-number order (retransmitted bytes
kept once, out-of-order segments placed by their sequence number), so a PDU or an MLLP
frame that spans segments, or files, reads as one. Frames are numbered per file from 1,
as Wireshark numbers them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import dpkt

from interopgate.errors import InteropGateError


class CaptureError(InteropGateError):
    """A capture file that cannot be read: missing, not a capture, cut short."""


@dataclass(frozen=True)
class Where:
    """A frame of a capture file and its time (seconds since the epoch)."""

    file: str
    frame: int
    time: float

    def label(self, several_files: bool = False) -> str:
        return f"{self.file} frame {self.frame}" if several_files else f"frame {self.frame}"


@dataclass
class Direction:
    """One direction of a stream: payload segments by their offset from the first byte."""

    base: int | None = None  # sequence number of the first payload byte
    segments: dict[int, tuple[bytes, Where]] = field(default_factory=dict)
    fin: Where | None = None

    def add(self, seq: int, payload: bytes, where: Where) -> None:
        if self.base is None:
            self.base = seq
        offset = (seq - self.base) & 0xFFFFFFFF
        if offset > 0x7FFFFFFF:  # before the first byte seen: a retransmission
            return
        known = self.segments.get(offset)
        if known is None or len(known[0]) < len(payload):
            self.segments[offset] = (payload, where)

    def assemble(self) -> Payload:
        """The bytes in order up to the first gap (bytes the capture missed)."""
        data = bytearray()
        starts: list[int] = []
        wheres: list[Where] = []
        gap = None
        for offset in sorted(self.segments):
            payload, where = self.segments[offset]
            if offset > len(data):
                gap = len(data)
                break
            fresh = payload[len(data) - offset :]
            if fresh:
                starts.append(len(data))
                wheres.append(where)
                data += fresh
        return Payload(bytes(data), starts, wheres, gap)


@dataclass
class Payload:
    """A direction's bytes, and for any offset the frame that carried it."""

    data: bytes
    starts: list[int]
    wheres: list[Where]
    gap: int | None = None  # offset where the capture lost bytes, if it did

    def where(self, offset: int) -> Where:
        """The frame carrying byte ``offset`` (a PDU is complete in the frame of its last
        byte, where Wireshark shows it reassembled)."""
        index = bisect.bisect_right(self.starts, offset) - 1
        return self.wheres[max(index, 0)]

    def chunks(self) -> Iterator[tuple[bytes, Where]]:
        """The bytes as they arrived, one piece per frame."""
        for i, start in enumerate(self.starts):
            end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.data)
            yield self.data[start:end], self.wheres[i]


@dataclass
class Stream:
    """One TCP connection: the client is the side that sent the SYN (without a SYN in
    the capture, the side with the higher port)."""

    index: int
    client: tuple[str, int]
    server: tuple[str, int]
    opened: Where
    to_server: Direction = field(default_factory=Direction)
    to_client: Direction = field(default_factory=Direction)
    syn_seen: bool = False
    reset: Where | None = None

    @property
    def label(self) -> str:
        return f"{self.client[0]}:{self.client[1]} -> {self.server[0]}:{self.server[1]}"


class _Exact:
    """A file wrapper that turns a short read in the middle of a record into an error:
    dpkt returns what is there, and a cut-off packet must not pass as a short one."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if size > 0 and 0 < len(data) < size:
            raise EOFError
        return data

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def _reader(path: Path, file: BinaryIO):
    magic = file.read(4)
    file.seek(0)
    try:
        if magic == b"\x0a\x0d\x0d\x0a":
            return dpkt.pcapng.Reader(_Exact(file))
        return dpkt.pcap.Reader(_Exact(file))
    except (ValueError, dpkt.UnpackError, EOFError):
        raise CaptureError(
            f"{path}: not a pcap or pcapng capture file (as tcpdump -w or Wireshark write)"
        ) from None


def _ip_of(datalink: int, frame: bytes):
    """The IPv4/IPv6 packet in a link-layer frame, None for anything else."""
    try:
        if datalink == dpkt.pcap.DLT_EN10MB:
            packet = dpkt.ethernet.Ethernet(frame).data
        elif datalink == dpkt.pcap.DLT_LINUX_SLL:
            packet = dpkt.sll.SLL(frame).data
        elif datalink == 276:  # DLT_LINUX_SLL2 (tcpdump -i any on newer libpcap)
            packet = dpkt.sll2.SLL2(frame).data
        elif datalink in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
            packet = dpkt.loopback.Loopback(frame).data
        elif datalink in (dpkt.pcap.DLT_RAW, 12, 14, 228, 229):
            version = frame[0] >> 4 if frame else 0
            packet = dpkt.ip.IP(frame) if version == 4 else dpkt.ip6.IP6(frame)
        else:
            return None
    except (dpkt.UnpackError, IndexError, ValueError):
        return None
    return packet if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) else None


def _address(ip, raw: bytes) -> str:
    import socket

    family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
    return socket.inet_ntop(family, raw)


@dataclass(frozen=True)
class Segment:
    where: Where
    src: tuple[str, int]
    dst: tuple[str, int]
    tcp: dpkt.tcp.TCP


def read_segments(paths: Iterable[Path]) -> list[Segment]:
    """Every TCP segment of the files, in time order (a rotated series may be given in
    any order); CaptureError for a missing, foreign or truncated file."""
    segments: list[Segment] = []
    for path in paths:
        segments += _read_file(Path(path))
    segments.sort(key=lambda s: s.where.time)
    return segments


def _read_file(path: Path) -> list[Segment]:
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"{path}: {exc.strerror or exc}") from None
    out: list[Segment] = []
    frame = 0
    with file:
        reader = _reader(path, file)
        datalink = reader.datalink()
        try:
            for time, data in reader:
                frame += 1
                ip = _ip_of(datalink, data)
                if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
                    continue
                tcp = ip.data
                where = Where(path.name, frame, float(time))
                out.append(
                    Segment(
                        where,
                        (_address(ip, ip.src), tcp.sport),
                        (_address(ip, ip.dst), tcp.dport),
                        tcp,
                    )
                )
        except (EOFError, dpkt.NeedData):
            raise CaptureError(
                f"{path}: cut short in the middle of frame {frame + 1} (the capture ends "
                "inside a packet; `editcap` can save the complete frames)"
            ) from None
        except (ValueError, dpkt.UnpackError) as exc:
            raise CaptureError(f"{path}: unreadable after frame {frame}: {exc}") from None
    return out


def streams(segments: Iterable[Segment]) -> list[Stream]:
    """The TCP connections of the segments; a SYN on a closed 4-tuple starts a new one."""
    found: list[Stream] = []
    live: dict[frozenset, Stream] = {}
    for segment in segments:
        tcp, key = segment.tcp, frozenset((segment.src, segment.dst))
        syn = bool(tcp.flags & dpkt.tcp.TH_SYN)
        ack = bool(tcp.flags & dpkt.tcp.TH_ACK)
        stream = live.get(key)
        if stream is not None and syn and not ack and stream.syn_seen:
            ended = stream.reset or (stream.to_server.fin and stream.to_client.fin)
            if ended or stream.to_server.segments or stream.to_client.segments:
                stream = None  # the 4-tuple is reused by a new connection
        if stream is None:
            if syn and not ack:
                client, server = segment.src, segment.dst
            elif syn and ack:
                client, server = segment.dst, segment.src
            else:
                client, server = sorted((segment.src, segment.dst), key=lambda a: -a[1])
            stream = Stream(len(found), client, server, segment.where)
            found.append(stream)
            live[key] = stream
        direction = stream.to_server if segment.src == stream.client else stream.to_client
        if syn:
            stream.syn_seen = True
            direction.base = (tcp.seq + 1) & 0xFFFFFFFF
            direction.segments.clear()
        if tcp.data:
            direction.add(tcp.seq, bytes(tcp.data), segment.where)
        if tcp.flags & dpkt.tcp.TH_FIN:
            direction.fin = direction.fin or segment.where
        if tcp.flags & dpkt.tcp.TH_RST:
            stream.reset = stream.reset or segment.where
    return found
