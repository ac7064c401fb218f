"""Acknowledgments over MLLP (HL7 2.5 §2.9, MLLP Release 1): every message the device's
peer sends must get exactly one well-framed ACK that names it (MSA-2 = MSH-10). Silence,
a dropped connection or an ACK for another message is what made the seed's EHR resend."""

from __future__ import annotations

import pytest

from interopgate.hl7 import timestamps
from interopgate.hl7.messages import read_reply
from interopgate.hl7.mllp import CR, FS, MLLPClient, encode, frame


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


# A header the receiver cannot accept, for the commit-reject paths of enhanced mode:
# MSH-11 outside HL7 table 0103 (D, P, T). HL7 2.5 §2.9.3: an unacceptable MSH-9, MSH-11
# or MSH-12 is answered with a commit reject (CR); CE covers any other reason.
BAD_PROCESSING_ID = "X"
COMMIT_REFUSALS = ("CR", "CE")


def _enhanced(hl7_factory, profile, accept: str, application: str, *, refused: bool = False):
    """The profile's first message type with MSH-15/MSH-16 set; ``refused``: with an
    unacceptable MSH-11."""
    pinned = hl7_factory.pinned
    if refused:
        hl7_factory.pinned = {**pinned, "MSH-11": BAD_PROCESSING_ID}
    try:
        return hl7_factory.build(
            profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12",
            accept_ack_type=accept,
            application_ack_type=application,
        )
    finally:
        hl7_factory.pinned = pinned


def _label(message, refused: bool = False) -> str:
    what = f", MSH-11 {BAD_PROCESSING_ID!r} (not in table 0103)" if refused else ""
    return (
        f"{message.message_type} with MSH-15 {message.accept_ack_type}, MSH-16 "
        f"{message.application_ack_type}{what} (MSH-10 {message.control_id})"
    )


def _require_enhanced(profile) -> None:
    if not profile.hl7.ack.enhanced_mode:
        pytest.skip("the profile says the target does not support enhanced acknowledgment mode")


def _quiet_wait(profile) -> float:
    """How long to listen for an ACK that must not come."""
    return min(0.5, profile.hl7.ack.timeout)


@pytest.mark.check("hl7.ack.enhanced_mode")
def test_enhanced_mode(check, hl7_client, hl7_factory, hl7_address, profile):
    """MSH-15 (accept acknowledgment type, table 0155) AL: a commit ACK with a commit code
    of table 0008 -- CA for a valid message, CR/CE for an unacceptable header; NE: none."""
    _require_enhanced(profile)
    always = _enhanced(hl7_factory, profile, "AL", "NE")
    exchange = hl7_client.send(always.text)
    ack = _require_ack(check, exchange, _label(always))
    check.expect(
        ack.msa_1 == "CA",
        _label(always),
        expected="a commit acknowledgment, MSA-1 CA (§2.9.3, table 0008)",
        observed=read_reply(exchange.reply_text, None)[1],
    )
    refused = _enhanced(hl7_factory, profile, "AL", "NE", refused=True)
    exchange = hl7_client.send(refused.text)
    ack = _require_ack(check, exchange, _label(refused, True))
    check.expect(
        ack.msa_1 in COMMIT_REFUSALS,
        _label(refused, True),
        expected="a commit reject, MSA-1 CR (or CE) -- enhanced mode answers with the commit "
        "codes CA/CE/CR of table 0008, never AA/AE/AR",
        observed=read_reply(exchange.reply_text, None)[1],
    )
    never = _enhanced(hl7_factory, profile, "NE", "NE")
    wait = _quiet_wait(profile)
    exchange = hl7_client.send(never.text, timeout=wait)
    check.expect(
        exchange.reply is None,
        _label(never),
        expected=f"no acknowledgment at all (waited {wait:g} s)",
        observed=read_reply(exchange.reply_text, exchange.problem)[1],
    )


@pytest.mark.check("hl7.ack.accept_conditions")
def test_enhanced_accept_conditions(check, hl7_client, hl7_factory, hl7_address, profile):
    """MSH-15 ER: a commit ACK only on error/reject (CE/CR); SU: only on success (CA)."""
    _require_enhanced(profile)
    wait = _quiet_wait(profile)
    cases = [  # (MSH-15, refused, the MSA-1 values allowed; () = no ACK at all)
        ("ER", False, ()),
        ("ER", True, COMMIT_REFUSALS),
        ("SU", False, ("CA",)),
        ("SU", True, ()),
    ]
    wrong, seen = [], []
    for accept, refused, allowed in cases:
        message = _enhanced(hl7_factory, profile, accept, "NE", refused=refused)
        exchange = hl7_client.send(message.text, timeout=None if allowed else wait)
        ack, observed = read_reply(exchange.reply_text, exchange.problem)
        want = f"MSA-1 {' or '.join(allowed)}" if allowed else f"no ACK (waited {wait:g} s)"
        line = f"{_label(message, refused)}: expected {want}, observed {observed}"
        seen.append(line)
        silent = exchange.reply is None
        if (ack.msa_1 not in allowed) if ack is not None else (allowed or not silent):
            wrong.append(line)
    check.transcript.note("accept conditions:\n" + "\n".join(seen))
    check.expect(
        not wrong,
        f"{len(wrong)} of {len(cases)} messages with MSH-15 ER/SU answered against table 0155",
        expected="ER: no ACK for a valid message, CR/CE for an unacceptable one; SU: CA for a "
        "valid message, no ACK for an unacceptable one",
        observed="\n    " + "\n    ".join(wrong),
    )


@pytest.mark.check("hl7.ack.application")
def test_enhanced_application_ack(check, hl7_factory, hl7_address, profile, transcript):
    """MSH-16 AL: the application ACK (AA/AE/AR) comes as a separate message after the
    commit ACK, naming the message in MSA-2; MSH-16 NE: no application ACK. The profile
    says where it comes (hl7.ack.application_ack: same-connection); a sender waits on a
    persistent connection for it, whatever hl7.connection says."""
    _require_enhanced(profile)
    if profile.hl7.ack.application_ack == "none":
        pytest.skip(
            "the profile says the target sends no application ACK (hl7.ack.application_ack)"
        )
    with MLLPClient.for_settings(
        hl7_address, profile.hl7, persistent=True, note=transcript.note
    ) as client:
        message = _enhanced(hl7_factory, profile, "AL", "AL")
        subject = _label(message)
        commit = client.send(message.text)
        commit_ack = _require_ack(check, commit, subject)
        application = client.receive()
        ack, observed = read_reply(application.reply_text, application.problem)
        wrong = []
        if ack is None:
            wrong.append(f"after the commit ACK ({commit_ack.msa_1}): {observed}")
        else:
            if ack.msh_9.split("^")[0] != "ACK":
                wrong.append(f"MSH-9 {ack.msh_9 or '(empty)'}, not ACK")
            if ack.msa_1 not in ("AA", "AE", "AR"):
                wrong.append(f"MSA-1 {ack.msa_1 or '(empty)'}, not an application code")
            if ack.msa_2 != message.control_id:
                wrong.append(f"MSA-2 {ack.msa_2 or '(empty)'}, not {message.control_id}")
            if ack.msh_10 and ack.msh_10 == commit_ack.msh_10:
                wrong.append(f"MSH-10 {ack.msh_10} repeats the commit ACK's: not a new message")
        check.expect(
            not wrong,
            subject,
            expected=f"the commit ACK, then within {profile.hl7.ack.timeout:g} s an application "
            f"ACK of its own: MSH-9 ACK, MSA-1 AA/AE/AR, MSA-2 {message.control_id}",
            observed="; ".join(wrong),
        )
        silent = _enhanced(hl7_factory, profile, "AL", "NE")
        _require_ack(check, client.send(silent.text), _label(silent))
        wait = _quiet_wait(profile)
        extra = client.receive(timeout=wait)
        check.expect(
            extra.reply is None,
            _label(silent),
            expected=f"the commit ACK only, no application ACK (waited {wait:g} s)",
            observed="a further message: " + read_reply(extra.reply_text, None)[1],
        )
