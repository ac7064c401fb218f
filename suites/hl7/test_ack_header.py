"""The ACK's own header (HL7 2.5 §2.9.2, §2.14.9): an acknowledgment is a message of its
own, so its MSH is judged like any other -- who it answers (MSH-5/6), when (MSH-7), what
it is (MSH-9), which message it is (MSH-10) and in which version (MSH-12). Each rule is
read per the profile's HL7 version and is no stricter than the standard: where a
component is optional in that version, its absence passes."""

from __future__ import annotations

import pytest

from interopgate.hl7 import timestamps
from interopgate.hl7.messages import ack_message_type, ack_message_type_problems, read_reply

UNIQUE_SAMPLE = 3  # messages whose ACKs must carry three distinct MSH-10s


def _first_type(profile) -> str:
    return profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12"


def _subject(message, address) -> str:
    return (
        f"ACK to {message.message_type} (HL7 {message.version}, MSH-10 {message.control_id}) "
        f"from {address[0]}:{address[1]}"
    )


def _acknowledge(check, hl7_client, message, subject: str):
    exchange = hl7_client.send(message.text)
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None,
        subject,
        expected="one ACK message (MSH + MSA) in return",
        observed=observed,
    )
    return ack


@pytest.mark.check("hl7.ack.header")
def test_ack_header(check, hl7_client, hl7_factory, hl7_address, profile):
    message = hl7_factory.build(_first_type(profile))
    subject = _subject(message, hl7_address)
    ack = _acknowledge(check, hl7_client, message, subject)
    check.expect(
        (ack.msh_5, ack.msh_6) == message.sending,
        f"{subject}: MSH-5/MSH-6",
        expected=f"{'|'.join(message.sending)} (the message's MSH-3|MSH-4)",
        observed=f"{ack.msh_5}|{ack.msh_6}",
    )
    check.expect(
        ack.msh_9.split("^")[0] == "ACK",
        f"{subject}: MSH-9",
        expected="ACK^<trigger event>",
        observed=ack.msh_9 or "(empty)",
    )
    version = ack.msh_12 if ack.msh_12 in timestamps.VERSIONS else profile.hl7.version
    try:
        timestamps.parse(ack.msh_7, version, strict=profile.hl7.strict)
    except timestamps.TimestampError as exc:
        check.fail(
            f"{subject}: MSH-7 (date/time of message)",
            expected=f"a DTM {timestamps.grammar(version)} ({timestamps.clause(version)})",
            observed=str(exc),
        )


@pytest.mark.check("hl7.ack.message_type")
def test_ack_message_type(check, hl7_client, hl7_factory, hl7_address, profile):
    message = hl7_factory.build(_first_type(profile))
    subject = _subject(message, hl7_address)
    ack = _acknowledge(check, hl7_client, message, subject)
    problems = ack_message_type_problems(ack.msh_9, message.version, message.trigger)
    check.expect(
        not problems,
        f"{subject}: MSH-9 (message type)",
        expected=ack_message_type(message.version, message.trigger),
        observed=f"MSH-9 {ack.msh_9 or '(empty)'}: " + "; ".join(problems),
    )


@pytest.mark.check("hl7.ack.unique_control_id")
def test_ack_control_ids_unique(check, hl7_client, hl7_factory, hl7_address, profile):
    """Three messages, three ACKs: each ACK's MSH-10 identifies it (§2.14.9.10), so none
    is empty and no two are the same -- also when they are sent within a second."""
    seen: list[tuple[str, str]] = []  # (message MSH-10, ACK MSH-10)
    for _ in range(UNIQUE_SAMPLE):
        message = hl7_factory.build(_first_type(profile))
        ack = _acknowledge(check, hl7_client, message, _subject(message, hl7_address))
        seen.append((message.control_id, ack.msh_10))
    own = [ack_id for _, ack_id in seen]
    repeated = sorted({i for i in own if own.count(i) > 1})
    check.expect(
        all(own) and not repeated,
        f"ACKs to {UNIQUE_SAMPLE} {_first_type(profile)} messages sent back to back to "
        f"{hl7_address[0]}:{hl7_address[1]}: MSH-10 (message control ID)",
        expected=f"{UNIQUE_SAMPLE} distinct, non-empty ACK MSH-10s",
        observed=", ".join(
            f"MSH-10 {m} acknowledged by ACK MSH-10 {a or '(empty)'}" for m, a in seen
        )
        + (f" ({', '.join(repeated)} repeated)" if repeated else ""),
    )


@pytest.mark.check("hl7.ack.version")
def test_ack_version(check, hl7_client, hl7_factory, hl7_address, profile):
    """The ACK answers in the version of the message it acknowledges (§2.14.9.12): a
    sender reads the ACK by the version it sent."""
    message = hl7_factory.build(_first_type(profile))
    subject = _subject(message, hl7_address)
    ack = _acknowledge(check, hl7_client, message, subject)
    answered = ack.msh_12.split("^")[0]
    check.expect(
        answered == message.version,
        f"{subject}: MSH-12 (version ID)",
        expected=f"MSH-12 {message.version}, the version of the message acknowledged",
        observed=f"MSH-12 {answered or '(empty)'}",
    )
