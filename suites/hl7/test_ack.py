"""Acknowledgments over MLLP (HL7 2.5 §2.9, MLLP Release 1): every message the device's
peer sends must get exactly one well-framed ACK that names it (MSA-2 = MSH-10). Silence,
a dropped connection or an ACK for another message is what made the seed's EHR resend."""

from __future__ import annotations

import pytest

from interopgate.hl7 import timestamps
from interopgate.hl7.messages import read_reply
from interopgate.hl7.mllp import CR, FS, encode, frame


def _subject(message, address) -> str:
    return (
        f"{message.message_type} (HL7 {message.version}, MSH-10 {message.control_id}) "
        f"to {address[0]}:{address[1]}"
    )


def _require_ack(check, exchange, subject: str):
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None,
        subject,
        expected="one ACK message (MSH + MSA) in return",
        observed=observed,
    )
    return ack


@pytest.mark.check("hl7.ack.accepted")
def test_valid_message_accepted(check, hl7_client, hl7_factory, hl7_address, hl7_message_type):
    message = hl7_factory.build(hl7_message_type)
    exchange = hl7_client.send(message.text)
    subject = _subject(message, hl7_address)
    ack = _require_ack(check, exchange, subject)
    check.expect(
        exchange.reply.well_framed,
        subject,
        expected="the ACK framed <VT> ... <FS><CR> with nothing before <VT>",
        observed=", ".join(exchange.reply.framing_problems()),
    )
    check.expect(
        ack.msa_1 in ("AA", "CA"),
        subject,
        expected="MSA-1 AA (application accept; CA in enhanced mode)",
        observed=read_reply(exchange.reply_text, None)[1],
    )


@pytest.mark.check("hl7.ack.control_id")
def test_ack_names_the_message(check, hl7_client, hl7_factory, hl7_address, profile):
    message = hl7_factory.build(profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12")
    exchange = hl7_client.send(message.text)
    subject = _subject(message, hl7_address)
    ack = _require_ack(check, exchange, subject)
    check.expect(
        ack.msa_2 == message.control_id,
        subject,
        expected=f"MSA-2 {message.control_id} (the MSH-10 sent)",
        observed=f"MSA-2 {ack.msa_2 or '(empty)'}",
    )


@pytest.mark.check("hl7.ack.header")
def test_ack_header(check, hl7_client, hl7_factory, hl7_address, profile):
    message = hl7_factory.build(profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12")
    exchange = hl7_client.send(message.text)
    subject = _subject(message, hl7_address)
    ack = _require_ack(check, exchange, subject)
    check.expect(
        (ack.msh_5, ack.msh_6) == message.sending,
        f"ACK to {subject}: MSH-5/MSH-6",
        expected=f"{'|'.join(message.sending)} (the message's MSH-3|MSH-4)",
        observed=f"{ack.msh_5}|{ack.msh_6}",
    )
    check.expect(
        ack.msh_9.split("^")[0] == "ACK",
        f"ACK to {subject}: MSH-9",
        expected="ACK^<trigger event>",
        observed=ack.msh_9 or "(empty)",
    )
    version = ack.msh_12 if ack.msh_12 in timestamps.VERSIONS else profile.hl7.version
    try:
        timestamps.parse(ack.msh_7, version, strict=profile.hl7.strict)
    except timestamps.TimestampError as exc:
        check.fail(
            f"ACK to {subject}: MSH-7 (date/time of message)",
            expected=f"a DTM {timestamps.grammar(version)} ({timestamps.clause(version)})",
            observed=str(exc),
        )


def _malformed_bytes(kind: str, text: str) -> bytes:
    if kind == "missing-MSH":
        return frame(text.split("\r", 1)[1])
    if kind == "bad-encoding-characters":
        return frame(text.replace("MSH|^~\\&|", "MSH|^~^&|", 1))
    raise ValueError(kind)


@pytest.mark.check("hl7.ack.malformed")
def test_malformed_message_answered(check, hl7_client, hl7_factory, hl7_address, malformed_kind):
    """A message that cannot be processed is answered AR/AE (§2.9.2), never with silence.
    Bytes outside a frame cannot be answered -- MLLP (Appendix C.4.3) says a receiver
    ignores them -- so "unframed-bytes" sends junk then a framed message: the junk must
    neither kill the connection nor stop the framed message's ACK."""
    message = hl7_factory.build("SIU^S12")
    where = f"{hl7_address[0]}:{hl7_address[1]}"
    if malformed_kind == "unframed-bytes":
        data = encode(message.text) + FS + CR + frame(message.text)
        exchange = hl7_client.send_raw(data, shown=f"(unframed copy, then framed) {message.text}")
        subject = f"unframed bytes, then a framed SIU^S12 (MSH-10 {message.control_id}) to {where}"
        ack, observed = read_reply(exchange.reply_text, exchange.problem)
        check.expect(
            ack is not None,
            subject,
            expected="the unframed bytes ignored and the connection kept: the framed "
            "message gets its ACK",
            observed=observed,
        )
        return
    exchange = hl7_client.send_raw(_malformed_bytes(malformed_kind, message.text))
    subject = f"a framed message with {malformed_kind.replace('-', ' ')} to {where}"
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None and ack.msa_1 in ("AE", "AR", "CE", "CR"),
        subject,
        expected="an ACK with MSA-1 AR or AE, itself a valid message (§2.14.9.2: the "
        "ACK's own MSH-2), on a connection that stays open",
        observed=observed,
    )


@pytest.mark.check("hl7.ack.unsupported_event")
def test_unsupported_trigger_event_rejected(check, hl7_client, hl7_factory, hl7_address):
    structure = "" if hl7_factory.version == "2.3" else "^SIU_S12"
    hl7_factory.pinned = {**hl7_factory.pinned, "MSH-9": f"SIU^Z99{structure}"}
    message = hl7_factory.build("SIU^S12")
    exchange = hl7_client.send(message.text)
    subject = f"SIU^Z99 (a site-defined event nobody supports, MSH-10 {message.control_id})"
    ack = _require_ack(check, exchange, subject)
    check.expect(
        ack.msa_1 in ("AR", "CR"),
        subject,
        expected="MSA-1 AR (rejected: unsupported event code, table 0357 code 201)",
        observed=read_reply(exchange.reply_text, None)[1],
    )


@pytest.mark.check("hl7.ack.enhanced_mode")
def test_enhanced_mode(check, hl7_client, hl7_factory, hl7_address, profile):
    """MSH-15 (accept acknowledgment type, table 0155): AL always, NE never."""
    if not profile.hl7.ack.enhanced_mode:
        pytest.skip("the profile says the target does not support enhanced acknowledgment mode")
    always = hl7_factory.build("SIU^S12", accept_ack_type="AL", application_ack_type="NE")
    exchange = hl7_client.send(always.text)
    subject = f"SIU^S12 with MSH-15 AL, MSH-16 NE (MSH-10 {always.control_id})"
    ack = _require_ack(check, exchange, subject)
    check.expect(
        ack.msa_1 == "CA",
        subject,
        expected="a commit acknowledgment, MSA-1 CA (§2.9.3.1)",
        observed=read_reply(exchange.reply_text, None)[1],
    )
    never = hl7_factory.build("SIU^S12", accept_ack_type="NE", application_ack_type="NE")
    wait = min(0.5, profile.hl7.ack.timeout)
    exchange = hl7_client.send(never.text, timeout=wait)
    check.expect(
        exchange.reply is None,
        f"SIU^S12 with MSH-15 NE, MSH-16 NE (MSH-10 {never.control_id})",
        expected=f"no acknowledgment at all (waited {wait:g} s)",
        observed=read_reply(exchange.reply_text, exchange.problem)[1],
    )
