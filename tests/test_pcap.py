"""The pcapng evidence: TCP rebuilt from socket bytes stays consistent, and a run writes
the captures ``--pcap`` asks for, linked from the failure message next to the transcript.

Read back with dpkt here; tests/test_pcap_tshark.py has tshark decode them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import dpkt
import pytest

from interopgate.evidence.pcap import (
    CLIENT,
    MSS,
    SERVER,
    TcpConnection,
    enhanced_packet_block,
    internet_checksum,
    tcp_frame,
    write_pcapng,
)
from tests.junit import read_cases

ROOT = Path(__file__).resolve().parents[1]
WORKLIST = ROOT / "suites" / "dicom" / "test_worklist.py"


def _segments(path: Path) -> list[tuple[float, dpkt.tcp.TCP, dpkt.ip.IP]]:
    out = []
    with path.open("rb") as f:
        for ts, frame in dpkt.pcapng.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            out.append((ts, ip.data, ip))
    return out


def test_connection_counts_every_byte_and_flag(tmp_path: Path) -> None:
    """RFC 9293 3.4: SYN and FIN take one sequence number, payload one per byte; every
    ACK names the next byte the peer will send; segments are at most the MSS."""
    conn = TcpConnection(("127.0.0.1", 40001), ("127.0.0.1", 40104), "dicom", 1000.0)
    request, reply = b"\x01" * (3 * MSS + 7), b"\x02" * 10
    conn.data(CLIENT, request, 1000.1)
    conn.data(SERVER, reply, 1000.2)
    conn.close(CLIENT, 1000.3)
    conn.close(SERVER, 1000.3)
    path = write_pcapng(tmp_path / "c.pcapng", conn.packets, "test")
    segments = _segments(path)
    times = [ts for ts, *_ in segments]
    assert times == sorted(times)
    next_seq: dict[int, int] = {}
    sent: dict[int, bytes] = {40001: b"", 104: b""}
    for _, tcp, ip in segments:
        assert ip.len == len(ip) and len(tcp.data) <= MSS
        assert tcp.dport in (40001, 104) and tcp.sport in (40001, 104)  # 40104 written as 104
        if tcp.sport in next_seq:
            assert tcp.seq == next_seq[tcp.sport]
        if tcp.flags & dpkt.tcp.TH_ACK and tcp.dport in next_seq:
            assert tcp.ack == next_seq[tcp.dport]
        step = len(tcp.data) + (1 if tcp.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
        next_seq[tcp.sport] = (tcp.seq + step) & 0xFFFFFFFF
        sent[tcp.sport] += tcp.data
    assert sent == {40001: request, 104: reply}
    flags = [tcp.flags for _, tcp, *_ in segments]
    assert flags[:3] == [dpkt.tcp.TH_SYN, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, dpkt.tcp.TH_ACK]
    assert sum(1 for f in flags if f & dpkt.tcp.TH_FIN) == 2
    assert conn.closed


def _dpkt_frame(src, dst, seq, ack, flags, payload) -> bytes:
    """The same frame built by dpkt's packet classes (their checksums included)."""
    tcp = dpkt.tcp.TCP(
        sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags, win=65535, data=payload
    )
    if flags & dpkt.tcp.TH_SYN:
        tcp.opts = b"\x02\x04" + MSS.to_bytes(2, "big")
        tcp.off = 6
    ip = dpkt.ip.IP(
        src=bytes(map(int, src[0].split("."))),
        dst=bytes(map(int, dst[0].split("."))),
        p=dpkt.ip.IP_PROTO_TCP,
        ttl=64,
        df=1,
        data=tcp,
    )
    ip.len = len(ip)
    ethernet = dpkt.ethernet.Ethernet(
        src=b"\x00" * 6, dst=b"\x00" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip
    )
    return bytes(ethernet)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 1459, MSS])
@pytest.mark.parametrize(
    "flags",
    [
        dpkt.tcp.TH_SYN,
        dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
        dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK,
    ],
)
def test_frames_are_the_ones_dpkt_builds(size: int, flags: int) -> None:
    """The hand-packed frame (for speed) is dpkt's, byte for byte, checksums included."""
    payload = bytes((7 * i + size) % 256 for i in range(size))
    for src, dst, seq, ack in [
        (("127.0.0.1", 40001), ("127.0.0.1", 104), 0xFFFFFFF0, 12345),
        (("10.1.2.3", 65535), ("192.168.200.9", 2575), 0, 0xFFFFFFFF),
    ]:
        frame = tcp_frame(src, dst, seq, ack, flags, payload)
        assert frame == _dpkt_frame(src, dst, seq, ack, flags, payload)


def test_internet_checksum_edges() -> None:
    """RFC 1071: all-zero data sums to 0 (checksum FFFFH); data whose sum is a multiple of
    FFFFH sums to FFFFH, "negative zero" (checksum 0)."""
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(b"\x00\x00\x00") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0
    assert internet_checksum(b"\x12\x34\xed\xcb") == 0
    assert internet_checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7") == 0x220D  # RFC 1071 3


def test_real_port_is_in_the_syn_comment(tmp_path: Path) -> None:
    conn = TcpConnection(("127.0.0.1", 40001), ("127.0.0.1", 40575), "hl7", 1000.0)
    assert conn.packets[0].comment.startswith("HL7 127.0.0.1:40001 -> 127.0.0.1:40575")
    assert "written as 2575" in conn.packets[0].comment
    same = TcpConnection(("127.0.0.1", 40001), ("127.0.0.1", 104), "dicom", 1000.0)
    assert "written as" not in same.packets[0].comment


def _run_worklist(run_suites, *args: str):
    return run_suites(
        "--profile=agfa-cr",
        "--site-fault=empty-sps-sequence",
        "-k",
        "sps_sequence_present and profile-query",
        *args,
        suites=WORKLIST,
    )


def test_failed_check_links_its_pcap(run_suites) -> None:
    result, junit = _run_worklist(run_suites)
    assert result.ret == 1, result.stdout.str()
    (case,) = [c for c in read_cases(junit) if c.outcome == "failed"]
    found = re.search(r"evidence: (\S+\.txt), (\S+\.pcapng)", case.message)
    assert found, case.message
    txt, pcap = Path(found.group(1)), Path(found.group(2))
    assert txt.is_file() and pcap.is_file()
    assert "server port" in txt.read_text()  # the transcript names the real port too
    assert {tcp.dport for _, tcp, _ in _segments(pcap)} >= {104}
    run = junit.parent / "evidence" / "run.pcapng"
    assert run.is_file() and len(_segments(run)) >= len(_segments(pcap))


@pytest.mark.parametrize("mode", ["none", "all"])
def test_pcap_modes(run_suites, mode: str) -> None:
    result, junit = run_suites(
        "--profile=agfa-cr", f"--pcap={mode}", "-k", "profile-query", suites=WORKLIST
    )
    assert result.ret == 0, result.stdout.str()
    evidence = junit.parent / "evidence"
    pcaps = sorted(p.name for p in evidence.glob("*.pcapng")) if evidence.exists() else []
    if mode == "none":
        assert pcaps == []
    else:  # every check's capture, though they passed, and the run's
        assert "run.pcapng" in pcaps and len(pcaps) == 1 + len(read_cases(junit))


def _dpkt_block(frame: bytes, time: float, comment: str) -> bytes:
    """The block dpkt's pcapng Writer writes for the same packet."""
    little = sys.byteorder == "little"
    kind = dpkt.pcapng.EnhancedPacketBlockLE if little else dpkt.pcapng.EnhancedPacketBlock
    option = dpkt.pcapng.PcapngOptionLE if little else dpkt.pcapng.PcapngOption
    opts = []
    if comment:
        opts = [
            option(code=1, data=comment.encode("utf-8")),
            option(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT, data=b""),
        ]
    block = kind(pkt_data=frame, opts=opts)
    ticks = dpkt.compat.intround(time * 1e6)  # what Writer.writepkt(ts=...) does
    block.ts_high, block.ts_low = ticks >> 32, ticks & 0xFFFFFFFF
    return bytes(block)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 54, 1514, 65535])
@pytest.mark.parametrize("comment", ["", "x", "abcd", "SYN: server port 11112 (ü)"])
@pytest.mark.parametrize("time", [0.0, 1.5, 1733112345.123456, 2**33 + 0.000001])
def test_packet_blocks_are_the_ones_dpkt_writes(size: int, comment: str, time: float) -> None:
    frame = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert enhanced_packet_block(frame, time, comment) == _dpkt_block(frame, time, comment)
