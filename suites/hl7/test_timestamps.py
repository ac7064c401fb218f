"""Timestamps (HL7 2.5 §2.A.74 TS, §2.A.22 DTM; 2.3.1 §2.8.44): the seed's defect. The
PACS engine rejected some SIU^S12 appointment times with AE -- intermittently, because
only some values failed. These checks send every form the profile lists in every time
field, and the same appointment at every minute of a day, and list what was refused."""

from __future__ import annotations

import datetime as dt

import pytest

from interopgate import sweep
from interopgate.hl7 import timestamps
from interopgate.hl7.messages import appointment_fields, new_control_id, read_reply, time_fields
from interopgate.hl7.mllp import MLLPClient, show
from interopgate.report import minute_grid

SWEEP_FORM = "YYYYMMDDHHMMSS"


@pytest.mark.check("hl7.timestamp.accepted")
def test_form_accepted(check, hl7_client, hl7_factory, profile, accepted_form, transcript):
    """Every time field of the profile's first message type (the one that creates the
    appointment or order) carries the form at once; the ACK's ERR names the field."""
    form = timestamps.Form.parse(accepted_form)
    value = form.render(sweep.when())
    version = profile.hl7.version
    verdict = (
        "valid" if timestamps.is_valid(value, version, strict=profile.hl7.strict) else "NOT valid"
    )
    transcript.note(f"form {accepted_form} -> {value!r}: {verdict} as HL7 {version} TS/DTM")
    message_type = profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12"
    fields = time_fields(message_type, version)
    message = hl7_factory.build(message_type, times={f: value for f in fields})
    exchange = hl7_client.send(message.text)
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None and ack.msa_1 in ("AA", "CA"),
        f"{message_type} with {value!r} (form {accepted_form}, which the profile says the "
        f"target accepts) in {', '.join(fields)}",
        expected=f"MSA-1 AA ({timestamps.grammar(version)}, {timestamps.clause(version)})",
        observed=observed,
    )


@pytest.mark.check("hl7.timestamp.rejected")
def test_form_rejected(check, hl7_client, hl7_factory, profile, rejected_form, transcript):
    """The form goes into the appointment fields only; the rest of the message is valid."""
    form = timestamps.Form.parse(rejected_form)
    value = form.render(sweep.when())
    version = profile.hl7.version
    message_type = profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12"
    fields = appointment_fields(message_type, version)
    try:
        timestamps.parse(value, version, strict=profile.hl7.strict)
        transcript.note(f"form {rejected_form} -> {value!r}: valid by the harness's grammar")
    except timestamps.TimestampError as exc:
        transcript.note(f"form {rejected_form} -> {value!r}: {exc}")
    message = hl7_factory.build(message_type, times={f: value for f in fields})
    exchange = hl7_client.send(message.text)
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None and ack.msa_1 in ("AE", "AR", "CE", "CR"),
        f"{message_type} with {value!r} (form {rejected_form}) in {', '.join(fields)}, which "
        "the profile says the target must refuse",
        expected=f"MSA-1 AE or AR: not {timestamps.grammar(version)} or out of range "
        f"({timestamps.clause(version)})",
        observed=observed,
    )


def _sweep(check, profile, hl7_address, hl7_factory, transcript, minutes: list[int], label: str):
    """The same appointment (same SCH-1/SCH-2) at each minute of a day, over one
    persistent connection; each message has its own MSH-10 (it is not a resend)."""
    version = profile.hl7.version
    message_type = next((m for m in profile.hl7.messages if m.startswith("SIU")), None)
    message_type = message_type or (profile.hl7.messages or ["SIU^S12"])[0]
    fields = appointment_fields(message_type, version)
    day = sweep.when().date()
    form = timestamps.Form.parse(SWEEP_FORM)
    template = hl7_factory.build(message_type)
    variants = hl7_factory.variants(template, fields)
    rejected: dict[int, str] = {}
    first_failure: list[str] = []
    host, port = hl7_address
    budget = sweep.Budget(profile.hl7.sweep_budget)
    silent_in_a_row = 0
    sent: list[int] = []
    window = profile.hl7.pipeline  # messages ahead of the oldest ACK (1: send, wait)
    texts: dict[str, str] = {}  # MSH-10 -> the message, for the first refusal's evidence

    def messages():
        for minute in minutes:
            if budget.spent() or silent_in_a_row >= 3:
                return
            when = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
            value = form.render(when)
            message = variants.make({f: value for f in fields}, new_control_id("SW"))
            texts[message.control_id] = message.text
            # Neither connect nor ACK wait may outlast the budget.
            client.connect_timeout = budget.bound(profile.hl7.connect_timeout)
            yield message.text

    with MLLPClient.for_settings(hl7_address, profile.hl7, persistent=True) as client:

        def ack_wait() -> float:
            return budget.bound(profile.hl7.ack.timeout)

        for minute, exchange in zip(
            minutes, client.send_window(messages(), window, timeout=ack_wait), strict=False
        ):
            message_text = texts.pop(exchange.control_id, "")
            sent.append(minute)
            check.progress(f"{label}: {len(sent)}/{len(minutes)} sent, {len(rejected)} refused")
            ack, observed = read_reply(exchange.reply_text, exchange.problem)
            silent_in_a_row = silent_in_a_row + 1 if exchange.reply is None else 0
            if ack is None or ack.msa_1 not in ("AA", "CA"):
                rejected[minute] = f"MSA-1 {ack.msa_1}" if ack is not None else observed
                if not first_failure:
                    reply = show(exchange.reply_text) if exchange.reply_text else observed
                    first_failure += [f">> {show(message_text)}", f"<< {reply}"]
        repeated = client.repeated_summary()
    check.record("minutes", minute_grid({m: "R" if m in rejected else "A" for m in sent}))
    elapsed = budget.elapsed()
    transcript.note(
        f"{label}: {len(sent)} {message_type} messages ({', '.join(fields)} = {day:%Y%m%d}HHMM00) "
        f"to {host}:{port} in {elapsed:.1f} s, {len(rejected)} refused"
    )
    if first_failure:
        transcript.note("first refused exchange:\n" + "\n".join(first_failure))
    if repeated:
        transcript.note(f"acknowledged more than once (HL7 2.5 §2.9.2): {repeated}")
    unsent = len(minutes) - len(sent)
    problems = []
    by_outcome: dict[str, set[int]] = {}
    for minute, outcome in rejected.items():
        by_outcome.setdefault(outcome, set()).add(minute)
    unit = "" if label == "full sweep" else " sampled"
    for outcome, bad in sorted(by_outcome.items(), key=lambda kv: min(kv[1])):
        ranges = sweep.minute_ranges(bad, sent)
        problems.append(
            f"{ranges} ({len(bad)} of {len(sent)}{unit} minutes) rejected with {outcome}"
        )
    if repeated:
        problems.append(f"one ACK per message (HL7 2.5 §2.9.2) broken: {repeated}")
    if unsent:
        why = (
            "the target stopped answering (3 messages in a row without an ACK)"
            if silent_in_a_row >= 3
            else f"the sweep's time budget of {budget.seconds:g} s (hl7.sweep_budget) ran out"
        )
        last = f", the last at {timestamps.hhmm(sent[-1])}" if sent else ""
        problems.append(
            f"{unsent} of {len(minutes)}{unit} minutes not sent: {why} after {len(sent)} "
            f"messages in {elapsed:.0f} s{last} ({len(sent) - len(rejected)} acknowledged AA)"
        )
    check.expect(
        not problems,
        f"{label} of one {message_type} appointment on {day:%Y-%m-%d} over {', '.join(fields)}",
        expected=f"MSA-1 AA at every minute 00:00-23:59 ({timestamps.grammar(version)})",
        observed="; ".join(problems),
    )


@pytest.mark.check("hl7.timestamp.sweep")
def test_time_sweep_sampled(check, profile, hl7_address, hl7_factory, transcript):
    """Default run: one minute in every hour (24 messages) -- enough to see an hour that
    never works; ``-m sweep`` runs all 1,440 minutes."""
    _sweep(
        check, profile, hl7_address, hl7_factory, transcript, sweep.SAMPLE_MINUTES, "sampled sweep"
    )


@pytest.mark.sweep
@pytest.mark.check("hl7.timestamp.sweep")
def test_time_sweep_full_day(check, profile, hl7_address, hl7_factory, transcript):
    _sweep(check, profile, hl7_address, hl7_factory, transcript, sweep.FULL_DAY, "full sweep")


@pytest.mark.check("hl7.resend.same_control_id")
def test_resend_same_control_id(
    check, hl7_factory, hl7_address, hl7_resend_record_check, profile, transcript
):
    """The seed's EHR resent the same SIU^S12 (same MSH-10) the next morning: a receiver
    must acknowledge it again (and keep one record -- the workflow suites check that).
    Sent over the one connection a resending sender keeps, then a pause: the resend gets
    one ACK, not one for every copy the receiver still holds (HL7 2.5 §2.9.2)."""
    message_type = profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12"
    message = hl7_factory.build(message_type)
    outcomes = []
    with MLLPClient.for_settings(
        hl7_address, profile.hl7, persistent=True, note=transcript.note
    ) as client:
        for _ in range(2):
            exchange = client.send(message.text)
            ack, observed = read_reply(exchange.reply_text, exchange.problem)
            outcomes.append((ack.msa_1 if ack else None, observed))
        client.receive(timeout=min(0.5, profile.hl7.ack.timeout))  # a further ACK, if any
        repeated = client.repeated_summary()
    subject = f"{message_type} sent twice with the same MSH-10 {message.control_id}"
    check.expect(
        all(code in ("AA", "CA") for code, _ in outcomes),
        subject,
        expected="MSA-1 AA both times",
        observed="; ".join(
            f"{n}: {obs}" for n, (_, obs) in zip(("first", "resend"), outcomes, strict=True)
        ),
    )
    check.expect(
        repeated is None,
        subject,
        expected="one ACK for the message and one for its resend (HL7 2.5 §2.9.2, §2.10.2)",
        observed=repeated or "",
    )
    hl7_resend_record_check(message)
