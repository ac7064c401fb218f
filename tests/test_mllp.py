"""MLLP client and listener (hl7/mllp.py): framing, timeouts, late ACKs, encodings."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from interopgate.hl7.mllp import (
    CR,
    FS,
    VT,
    FrameReader,
    MLLPClient,
    MLLPListener,
    codec_for,
    decode,
    frame,
    msh_18_of,
)

MSG = "MSH|^~\\&|A|B|C|D|20240930083000||ADT^A08^ADT_A01|C1|P|2.5\rPID|1||X1"


def test_frame_and_reader_roundtrip_in_pieces():
    data = frame(MSG) + frame(MSG.replace("C1", "C2"))
    reader = FrameReader()
    frames = []
    for byte in data:  # one byte at a time: frames survive any TCP segmentation
        frames += reader.feed(bytes([byte]))
    assert [f.payload.decode() for f in frames] == [MSG, MSG.replace("C1", "C2")]
    assert all(f.well_framed for f in frames)


def test_reader_reports_junk_and_missing_cr():
    frames = FrameReader().feed(b"junk" + VT + b"MSH|x" + FS + b"X" + VT + b"MSH|y" + FS + CR)
    assert frames[0].leading_junk == b"junk"
    assert not frames[0].terminated
    assert frames[0].framing_problems() == ["4 byte(s) before <VT>", "<FS> not followed by <CR>"]
    assert frames[1].payload == b"MSH|y"


@pytest.mark.parametrize(
    ("msh_18", "codec", "text"),
    [
        ("", "ascii", "MULLER"),
        ("8859/1", "latin-1", "MÜLLER"),
        ("UNICODE UTF-8", "utf-8", "MÜLLER"),
    ],
)
def test_encoding_follows_msh_18(msh_18, codec, text):
    message = f"MSH|^~\\&|A|B|C|D|20240930||ADT^A08|C1|P|2.5||||||{msh_18}\rPID|1||X||{text}"
    assert codec_for(msh_18) == codec
    data = frame(message)
    assert msh_18_of(data[1:]) == msh_18
    assert text.encode(codec) in data
    assert decode(data[1:-2]) == message


def _listener(handler):
    return MLLPListener(handler).start()


def test_client_gets_one_reply_per_message_on_a_persistent_connection():
    peers = []

    def echo(received, connection):
        peers.append(connection.peer)
        return "MSH|^~\\&|C|D|A|B|20240930||ACK|R1|P|2.5\rMSA|AA|" + received.payload.decode()[-2:]

    listener = _listener(echo)
    try:
        with MLLPClient(*listener.address, read_timeout=2) as client:
            replies = [client.send(MSG.replace("X1", f"X{i}")).reply_text for i in range(3)]
        assert [r.split("|")[-1] for r in replies] == ["X0", "X1", "X2"]
        assert len(set(peers)) == 1  # one connection
        with MLLPClient(*listener.address, persistent=False) as client:
            client.send(MSG)
            client.send(MSG)
        assert len(set(peers)) == 3  # one connection per message
    finally:
        listener.stop()


def test_no_ack_is_reported_with_the_timeout_and_a_late_ack_is_never_taken_for_the_next():
    """The first message's ACK comes after the client gave up; the second message must
    get its own ACK, not the late one."""

    def slow_first(received, connection):
        control_id = received.payload.decode().split("|")[9]
        if control_id == "LATE":
            time.sleep(0.6)
        return f"MSH|^~\\&|C|D|A|B|20240930||ACK|R|P|2.5\rMSA|AA|{control_id}"

    listener = _listener(slow_first)
    try:
        with MLLPClient(*listener.address, read_timeout=0.3) as client:
            started = time.monotonic()
            late = client.send(MSG.replace("|C1|", "|LATE|"))
            assert late.reply is None
            assert late.problem == "no ACK within 0.3 s"
            assert time.monotonic() - started < 2.0  # bounded by the timeout, not by the peer
            time.sleep(0.5)  # the late ACK is now in flight / arrived on the old connection
            second = client.send(MSG.replace("|C1|", "|NEXT|"))
            assert second.reply_text.endswith("MSA|AA|NEXT")
    finally:
        listener.stop()


def _ack(control_id: str) -> str:
    return f"MSH|^~\\&|C|D|A|B|20240930||ACK|R{control_id}|P|2.5\rMSA|AA|{control_id}"


def test_a_late_ack_on_the_same_connection_is_not_taken_for_the_next_message():
    """Message N's ACK arrives (again, late) just before message N+1's, on a connection
    that stays open: MSA-2 names N, so it is discarded and N+1 gets its own ACK."""

    def late_then_own(received, connection):
        control_id = received.payload.decode().split("|")[9]
        if control_id == "N1":
            return frame(_ack("N")) + frame(_ack("N1"))  # the late ACK of N comes first
        return _ack(control_id)

    notes = []
    listener = _listener(late_then_own)
    try:
        with MLLPClient(*listener.address, read_timeout=2, note=notes.append) as client:
            first = client.send(MSG.replace("|C1|", "|N|"))
            assert (first.control_id, first.acknowledges) == ("N", "N")
            second = client.send(MSG.replace("|C1|", "|N1|"))
        assert (second.control_id, second.acknowledges) == ("N1", "N1")
        assert any("discarded a late ACK (MSA-2 N," in n and "MSH-10 N1" in n for n in notes)
        assert [(r.msa_2, r.while_waiting_for) for r in client.repeated] == [("N", "N1")]
    finally:
        listener.stop()


def test_only_a_late_ack_is_reported_as_no_ack_with_the_seconds_waited():
    """N+1 gets nothing but N's late ACK: that is no ACK for N+1, reported with the wait."""

    def only_late(received, connection):
        control_id = received.payload.decode().split("|")[9]
        return _ack("N") if control_id in ("N", "N1") else None

    listener = _listener(only_late)
    try:
        with MLLPClient(*listener.address, read_timeout=0.3) as client:
            assert client.send(MSG.replace("|C1|", "|N|")).acknowledges == "N"
            started = time.monotonic()
            second = client.send(MSG.replace("|C1|", "|N1|"))
        assert second.reply is None
        assert second.problem == "no ACK within 0.3 s (1 late ACK(s) of earlier messages discarded)"
        assert 0.3 <= time.monotonic() - started < 2.0
    finally:
        listener.stop()


def test_an_ack_naming_an_unknown_message_is_returned_for_the_check_to_judge():
    """MSA-2 naming no message sent here is not a late ACK: the reply is returned and
    ``acknowledges`` shows the mismatch (hl7.ack.control_id reports it)."""
    listener = _listener(lambda received, connection: _ack("SOMEONE-ELSE"))
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            exchange = client.send(MSG)
        assert exchange.control_id == "C1"
        assert exchange.acknowledges == "SOMEONE-ELSE"
    finally:
        listener.stop()


def test_resend_with_the_same_control_id_takes_its_ack():
    listener = _listener(lambda received, connection: _ack("C1"))
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            assert [client.send(MSG).acknowledges for _ in range(2)] == ["C1", "C1"]
    finally:
        listener.stop()


def test_receive_reads_a_message_the_peer_sends_after_the_reply():
    """Enhanced mode (HL7 2.5 §2.9.3): commit ACK, then the application ACK as a message
    of its own on the same connection."""

    def commit_then_application(received, connection):
        control_id = received.payload.decode().split("|")[9]
        commit = _ack(control_id).replace("MSA|AA", "MSA|CA")
        return frame(commit) + frame(_ack(control_id).replace("|R", "|APP"))

    listener = _listener(commit_then_application)
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            commit = client.send(MSG)
            application = client.receive()
            nothing = client.receive(timeout=0.2)
        assert "MSA|CA|C1" in commit.reply_text
        assert "MSA|AA|C1" in application.reply_text and "|APPC1|" in application.reply_text
        assert nothing.reply is None and nothing.problem == "no further message within 0.2 s"
    finally:
        listener.stop()


def test_unsolicited_frames_are_discarded_before_the_next_send():
    def two_acks(received, connection):
        ack = "MSH|^~\\&|C|D|A|B|20240930||ACK|R|P|2.5\rMSA|AA|"
        control_id = received.payload.decode().split("|")[9]
        return frame(ack + control_id) + frame(ack + "EXTRA")

    notes = []
    listener = _listener(two_acks)
    try:
        with MLLPClient(*listener.address, note=notes.append) as client:
            assert client.send(MSG).reply_text.endswith("|C1")
            time.sleep(0.1)
            assert client.send(MSG.replace("|C1|", "|C2|")).reply_text.endswith("|C2")
        assert any("discarded" in n and "EXTRA" in n for n in notes)
    finally:
        listener.stop()


def test_dropped_connection_is_reported():
    def hang_up(received, connection):
        connection.close = True
        return None

    listener = _listener(hang_up)
    try:
        with MLLPClient(*listener.address, read_timeout=2) as client:
            exchange = client.send(MSG)
        assert exchange.reply is None
        assert exchange.problem == "connection closed by the peer"
    finally:
        listener.stop()


def test_connect_to_a_closed_port_fails_fast():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with MLLPClient("127.0.0.1", port, connect_timeout=1) as client:
        exchange = client.send(MSG)
    assert exchange.reply is None
    assert "cannot connect" in exchange.problem and "refused" in exchange.problem


def test_listener_records_what_a_sender_sends():
    listener = _listener(lambda received, connection: None)
    try:
        sender = threading.Thread(
            target=lambda: MLLPClient(*listener.address, read_timeout=0.2).send(MSG)
        )
        sender.start()
        frames = listener.wait_for(1, timeout=2)
        sender.join()
        assert frames[0].payload.decode() == MSG
    finally:
        listener.stop()


def _redelivering(received, connection):
    """A receiver whose buffer is never cleared: message n brings back n ACKs."""
    earlier = connection.state.setdefault("earlier", [])
    earlier.append(received.payload.decode().split("|")[9])
    return b"".join(frame(_ack(control_id)) for control_id in earlier)


def test_acks_for_messages_already_acknowledged_are_counted_without_a_transcript():
    """HL7 2.5 §2.9.2: one ACK per message. PA, PB, PC on one connection bring back 1, 2
    and 3 ACKs; each message still gets its own reply, and the 3 extra ACKs are kept --
    with no ``note`` at all, as in a sweep -- naming the first one and the count."""
    listener = _listener(_redelivering)
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            replies = [client.send(MSG.replace("|C1|", f"|{c}|")) for c in ("PA", "PB", "PC")]
        assert [r.acknowledges for r in replies] == ["PA", "PB", "PC"]
        assert [(r.msa_2, r.while_waiting_for) for r in client.repeated] == [
            ("PA", "PB"),
            ("PA", "PC"),
            ("PB", "PC"),
        ]
        assert client.repeated_summary() == (
            "3 ACK(s) for 2 message(s) already acknowledged; first: MSH-10 PA acknowledged "
            "again (MSA-1 AA) while waiting for the ACK of MSH-10 PB"
        )
    finally:
        listener.stop()


def test_a_resend_and_an_enhanced_mode_pair_are_not_repeats():
    """A resend (same MSH-10) is acknowledged again (§2.10.2); in enhanced mode a
    message gets one accept and one application ACK (§2.9.3). Neither is a repeat; a
    second application ACK for the same message is."""

    def commit_then_application(received, connection):
        control_id = received.payload.decode().split("|")[9]
        commit = _ack(control_id).replace("MSA|AA", "MSA|CA")
        extra = frame(_ack(control_id)) if control_id == "TWICE" else b""
        return frame(commit) + frame(_ack(control_id)) + extra

    listener = _listener(commit_then_application)
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            for _ in range(2):
                assert client.send(MSG).acknowledges == "C1"
                assert client.receive().acknowledges == "C1"
            assert client.repeated == []
            client.send(MSG.replace("|C1|", "|TWICE|"))
            client.receive()
            client.receive(timeout=0.3)
        assert [(r.msa_2, r.msa_1) for r in client.repeated] == [("TWICE", "AA")]
        assert "right after its own ACK" in client.repeated_summary()
    finally:
        listener.stop()


def test_send_raw_names_the_message_meant_not_the_bytes_in_front():
    """Unframed bytes with an MSH-10 of their own, then a framed message: the exchange is
    about the framed one, and an ACK naming the unframed bytes is returned for the check
    to judge, not discarded."""
    junk = MSG.replace("|C1|", "|JUNK|").encode() + FS + CR
    listener = _listener(lambda received, connection: _ack("JUNK"))
    try:
        with MLLPClient(*listener.address, read_timeout=1) as client:
            exchange = client.send_raw(junk + frame(MSG), control_id="C1")
        assert (exchange.control_id, exchange.acknowledges) == ("C1", "JUNK")
    finally:
        listener.stop()


def _numbered(count: int) -> list[str]:
    return [MSG.replace("|C1|", f"|W{i:04d}|") for i in range(count)]


def _control_id(received) -> str:
    return received.payload.decode().split("|")[9]


@pytest.mark.parametrize("window", [1, 8])
def test_send_window_gives_one_exchange_per_message_in_order(window):
    """Up to ``window`` messages ahead of the oldest ACK on one connection (HL7 2.5
    §2.9.2: each answered by MSA-2); the exchanges come back in the order sent."""
    peers = []

    def ack(received, connection):
        peers.append(connection.peer)
        return _ack(_control_id(received))

    listener = _listener(ack)
    try:
        with MLLPClient(*listener.address, read_timeout=2) as client:
            exchanges = list(client.send_window(_numbered(100), window))
        assert [e.control_id for e in exchanges] == [f"W{i:04d}" for i in range(100)]
        assert all(e.acknowledges == e.control_id for e in exchanges)
        assert len(set(peers)) == 1
        assert client.repeated_summary() is None
    finally:
        listener.stop()


def test_send_window_matches_acks_answered_out_of_order():
    """A receiver that answers the second message before the first: matched by MSA-2."""
    held: list[str] = []

    def swap_pairs(received, connection):
        control_id = _control_id(received)
        if int(control_id[1:]) % 2 == 0:
            held.append(control_id)
            return None
        return frame(_ack(control_id)) + frame(_ack(held.pop()))

    listener = _listener(swap_pairs)
    try:
        with MLLPClient(*listener.address, read_timeout=2) as client:
            exchanges = list(client.send_window(_numbered(10), 4))
        assert [e.acknowledges for e in exchanges] == [f"W{i:04d}" for i in range(10)]
    finally:
        listener.stop()


class _FailingSends:
    """A connected socket whose ``sendall`` fails from the ``fail_at``-th call on, as
    one the peer has reset would (EPIPE)."""

    def __init__(self, sock: socket.socket, fail_at: int) -> None:
        self._sock, self._left = sock, fail_at - 1

    def sendall(self, data: bytes) -> None:
        if self._left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self._left -= 1
        self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_send_window_keeps_the_acks_that_came_before_a_failed_send():
    """The peer answers the first two messages in one write; the fourth message cannot
    be sent. The second message's ACK had come: it is reported answered, not lost; only
    the third (sent, no ACK) and the fourth (not sent) have a problem."""

    def two_at_once(received, connection):
        control_id = _control_id(received)
        if control_id == "W0001":
            return frame(_ack("W0000")) + frame(_ack("W0001"))
        return None  # W0000 waits for W0001; W0002 is never answered

    listener = _listener(two_at_once)
    try:
        with MLLPClient(*listener.address, read_timeout=2) as client:
            connect = client._connect

            def failing_connect():
                if client._sock is None:
                    client._sock = _FailingSends(connect(), fail_at=4)
                return client._sock

            client._connect = failing_connect
            exchanges = list(client.send_window(_numbered(4), 3))
        assert [e.control_id for e in exchanges] == ["W0000", "W0001", "W0002", "W0003"]
        assert [e.acknowledges for e in exchanges[:2]] == ["W0000", "W0001"]
        assert [e.problem for e in exchanges[:2]] == [None, None]
        assert exchanges[2].reply is None
        assert exchanges[2].problem == "connection lost before its ACK"
        assert exchanges[3].problem.startswith("cannot send to 127.0.0.1:")
    finally:
        listener.stop()


def test_send_window_reports_a_missing_ack_and_goes_on():
    """The fifth ACK never comes: that message (and those still waiting behind it, unless
    their ACKs came) is reported with the timeout; the rest go on a new connection."""
    peers = []

    def drop_fifth(received, connection):
        peers.append(connection.peer)
        control_id = _control_id(received)
        return None if control_id == "W0004" else _ack(control_id)

    listener = _listener(drop_fifth)
    try:
        with MLLPClient(*listener.address, read_timeout=0.3) as client:
            started = time.monotonic()
            exchanges = list(client.send_window(_numbered(12), 3))
        assert time.monotonic() - started < 3.0
        assert [e.control_id for e in exchanges] == [f"W{i:04d}" for i in range(12)]
        unanswered = [e.control_id for e in exchanges if e.reply is None]
        assert "W0004" in unanswered
        assert set(unanswered) <= {"W0004", "W0005", "W0006"}
        missing = next(e for e in exchanges if e.control_id == "W0004")
        assert missing.problem == "no ACK within 0.3 s"
        assert all(e.acknowledges == e.control_id for e in exchanges if e.reply is not None)
        assert len(set(peers)) == 2  # closed after the timeout, then a new connection
    finally:
        listener.stop()
