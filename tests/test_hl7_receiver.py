"""The harness as an MLLP receiver: the ``mllp_receiver`` fixture and ``inspect``."""

from __future__ import annotations

import textwrap

import pytest

from interopgate.hl7.mllp import CR, FS, VT, Frame, MLLPClient, frame
from interopgate.hl7.receiver import MLLPReceiver, inspect

GOOD = "MSH|^~\\&|RIS|H|PACS|S|20240930083015+0200||ORM^O01^ORM_O01|M1|P|2.5\rPID|1||X1"


def test_receiver_acks_and_keeps_what_arrives():
    receiver = MLLPReceiver().start()
    try:
        with MLLPClient(*receiver.address, read_timeout=2) as sender:
            exchange = sender.send(GOOD)
        assert "MSA|AA|M1" in exchange.reply_text
        assert exchange.reply_text.startswith("MSH|^~\\&|IG_HARNESS|IG|RIS|H|")
        frames = receiver.wait_for(1, timeout=2)
        assert frames[0].payload.decode() == GOOD
        assert inspect(frames[0]) == []
    finally:
        receiver.stop()


def test_inspect_finds_framing_timestamp_and_required_field_problems():
    bad = GOOD.replace("20240930083015+0200", "2024093008:30:15").replace("|M1|", "||")
    findings = [str(f) for f in inspect(Frame(bad.encode(), leading_junk=b"xx", terminated=False))]
    assert "MLLP: 2 byte(s) before <VT>" in findings
    assert "MLLP: <FS> not followed by <CR>" in findings
    assert "MSH-10: required field is empty" in findings
    assert any(f.startswith("MSH-7: '2024093008:30:15' does not match") for f in findings)
    assert any("§2.A.74" in f for f in findings)
    assert [str(f) for f in inspect(Frame(b"PID|1"))] == [
        "MSH: the message does not start with MSH"
    ]


def test_fixture_in_a_suite(pytester):
    """A suite uses the plugin's fixture as a target's outbound interface would."""
    pytester.makepyfile(
        test_outbound=textwrap.dedent(
            f"""
            from interopgate.hl7.mllp import MLLPClient
            from interopgate.hl7.receiver import inspect

            def test_target_sends(mllp_receiver):
                with MLLPClient(*mllp_receiver.address) as target_side:
                    target_side.send({GOOD!r})
                frames = mllp_receiver.wait_for(1, timeout=2)
                assert len(frames) == 1 and inspect(frames[0]) == []
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)


def test_frame_constants():
    assert frame("MSH|x") == VT + b"MSH|x" + FS + CR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MSH", "MSH-12: unknown HL7 version ''"),
        ("MSH|", "MSH-12: unknown HL7 version ''"),
        ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|9.9", "MSH-12: unknown HL7 version '9.9'"),
        ("MSH|^~|A|B|C|D|2024||ADT^A01|1|P|2.5", "MSH: not an HL7 v2 message hl7apy can read"),
    ],
)
def test_inspect_names_a_message_it_cannot_read_instead_of_raising(text, expected):
    """What a target sends is bad input: a finding, never an exception."""
    findings = [str(f) for f in inspect(Frame(text.encode()))]
    assert any(f.startswith(expected) for f in findings), findings
