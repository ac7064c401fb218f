"""End to end: an HL7 order or appointment becomes a complete worklist item.

The seed incident crossed two protocols: an SIU^S12 the PACS's HL7 engine rejected (AE,
"invalid date/time") still left a Modality Worklist item with an empty Scheduled
Procedure Step Sequence, and the Agfa CR saw an empty worklist. Each check here sends
through MLLP as the order placer does (IHE RAD TF-2 RAD-4, HL7 2.5 ch. 10 / ch. 4), then
queries the worklist as the profile's modality does (RAD-5, PS3.4 K.6), polling until
``hl7.worklist_deadline`` seconds (interopgate/workflow.py). Expected values come from
the profile's ``hl7.to_worklist`` mapping (default: IHE SWF, hl7/worklist_mapping.py).
The transcript holds the HL7 exchange (MSH..., ACK) and the C-FIND request/responses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest
from pydicom.dataset import Dataset

from interopgate import sweep
from interopgate.hl7 import timestamps
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import new_control_id
from interopgate.hl7.mllp import show
from interopgate.report import minute_grid
from interopgate.workflow import (
    ACCEPTED,
    PLAIN,
    POLL_INTERVAL_S,
    REFUSED,
    Flow,
    tag_label,
    value_at,
)


@pytest.mark.check("workflow.create.complete")
def test_create_appears_complete(check, flow, workflow_form):
    """RAD-4 → RAD-5: the accepted create is one complete item, each mapped value as
    sent, the SPS start date/time the appointment's (for each timestamp form)."""
    flow.require("create")
    _, _, message = flow.new_order(workflow_form)
    started = time.monotonic()
    sent = flow.send(message)
    acked = time.monotonic() - started
    flow.must_accept(sent, "create")
    found, elapsed = flow.poll([sent.accession], flow.complete(sent))
    items = found[sent.accession]
    good = [i for i in items if not flow.problems(sent, i)]
    seen = "complete item in the worklist" if good else "deadline: no complete item"
    check.record(
        "timeline",
        [(0.0, f"{sent.message_type} sent"), (acked, f"ACK {sent.ack}"), (acked + elapsed, seen)],
    )
    check.expect(
        len(items) == 1 and len(good) == 1,
        f"{sent.who()} (form {workflow_form}), answered {sent.observed}",
        expected=f"one complete worklist item within {flow.deadline:g} s, mapped values and "
        f"SPS start {sent.start[0]} {sent.start[1]} as sent",
        observed=flow.describe(sent, items, elapsed),
    )
    check.transcript.note(f"create -> complete item in {elapsed:.2f} s")


@pytest.mark.check("workflow.update.applied")
def test_update_changes_item(check, flow):
    """S14 / ORM XO moves the appointment by an hour and a quarter: the item follows."""
    flow.require("update")
    patient, appointment, message = flow.new_order()
    created = flow.send(message)
    flow.must_accept(created, "create")
    flow.poll([created.accession], flow.complete(created))
    moved = sweep.when() + dt.timedelta(minutes=75)
    update = flow.build(
        "update",
        patient,
        dataclasses.replace(appointment, start=moved.replace(tzinfo=None)),
        times=flow.appointment_times("update", moved, PLAIN),
    )
    sent = flow.send(update)
    flow.must_accept(sent, "update")
    found, elapsed = flow.poll([sent.accession], flow.complete(sent, compare=True))
    items = found[sent.accession]
    check.expect(
        len(items) == 1 and not flow.problems(sent, items[0]),
        f"{sent.who()} (update of {created.start_text}), answered {sent.observed}",
        expected=f"the one item moved to {sent.start[0]} {sent.start[1]} within "
        f"{flow.deadline:g} s",
        observed=flow.describe(sent, items, elapsed),
    )


@pytest.mark.cancel_mode("remove")
@pytest.mark.check("workflow.cancel.removed")
def test_cancel_removes_item(check, flow, cancel_mode):
    """hl7.cancel: remove -- S15 / ORC-1 CA takes the item off the worklist."""
    sent = flow.create_then_cancel()
    found, elapsed = flow.poll([sent.accession], lambda f: not f[sent.accession])
    items = found[sent.accession]
    check.expect(
        not items,
        f"{sent.who()}, answered {sent.observed}",
        expected=f"no worklist item with accession {sent.accession} within {flow.deadline:g} s",
        observed=f"{len(items)} item(s) still there after {elapsed:.2f} s",
    )


@pytest.mark.cancel_mode("mark")
@pytest.mark.check("workflow.cancel.marked")
def test_cancel_marks_item(check, flow, profile, cancel_mode):
    """hl7.cancel: mark -- the item stays, once, with Scheduled Procedure Step Status
    (0040,0020) the profile's marker (hl7.cancel_status; PS3.3 C.4.10 has no Defined Term
    for a cancelled step, so the site's own term is the profile's to name)."""
    sent = flow.create_then_cancel()
    marker = profile.hl7.cancel_status

    def marked(found: dict[str, list[Dataset]]) -> bool:
        return any(value_at(i, wm.STATUS) == marker for i in found[sent.accession])

    found, elapsed = flow.poll([sent.accession], marked)
    items = found[sent.accession]
    statuses = ", ".join(repr(value_at(i, wm.STATUS)) for i in items) or "none"
    check.expect(
        len(items) == 1 and value_at(items[0], wm.STATUS) == marker,
        f"{sent.who()}, answered {sent.observed}",
        expected=f"the one worklist item with accession {sent.accession} kept, its "
        f"{tag_label(wm.STATUS)} {marker!r} within {flow.deadline:g} s",
        observed=f"{len(items)} item(s) after {elapsed:.2f} s; {tag_label(wm.STATUS)}: {statuses}",
    )


@pytest.mark.check("workflow.rejected.no_trace")
def test_rejected_create_leaves_no_trace(check, flow, profile):
    """The seed: S12 refused for its appointment time (AE), resent later with the same
    MSH-10 and accepted. The refusal must leave nothing (HL7 2.5 §2.9.2); the resend
    exactly one complete item -- never a half-filled one with an empty SPS."""
    flow.require("create")
    if not profile.hl7.forms_rejected:
        pytest.skip("the profile lists no hl7.forms_rejected to provoke a refusal with")
    form = profile.hl7.forms_rejected[0]
    patient, appointment, _ = flow.new_order()
    control_id = new_control_id("RJ")
    bad = flow.build(
        "create",
        patient,
        appointment,
        times=flow.appointment_times("create", sweep.when(), form),
        control_id=control_id,
    )
    refused = flow.send(bad)
    if refused.ack not in REFUSED:
        pytest.skip(
            f"{refused.message_type} with form {form} was not refused ({refused.observed}); "
            "hl7.timestamp.rejected judges that"
        )
    before, _ = flow.poll([refused.accession], lambda found: True)
    traces = [
        f"{'; '.join(flow.problems(refused, i, compare=False)) or 'a complete item'}"
        for i in before[refused.accession]
    ]
    good = flow.build(
        "create",
        patient,
        appointment,
        times=flow.appointment_times("create", sweep.when(), PLAIN),
        control_id=control_id,
    )
    sent = flow.send(good)
    flow.must_accept(sent, "resend")
    found, elapsed = flow.poll([sent.accession], flow.complete(sent))
    items = found[sent.accession]
    problems = []
    if traces:
        problems.append(
            f"after the {refused.ack} for {refused.start_text!r}: {len(traces)} item(s): "
            + " | ".join(traces)
        )
    if len(items) != 1 or flow.problems(sent, items[0], compare=False):
        problems.append(
            "after the accepted resend:" + flow.describe(sent, items, elapsed, compare=False)
        )
    check.expect(
        not problems,
        f"{refused.who()} answered {refused.observed}; resent with {sent.start_text}, "
        f"answered {sent.observed}",
        expected="no item after the refusal; exactly one complete item after the resend",
        observed="\n    ".join(problems),
    )


@pytest.mark.check("workflow.resend.no_duplicate")
def test_resend_creates_no_duplicate(check, flow):
    """HL7 2.5 §2.10.2: the same MSH-10 again is a retry, applied once."""
    flow.require("create")
    _, _, message = flow.new_order()
    first = flow.send(message)
    flow.must_accept(first, "create")
    sent = flow.send(message)
    flow.must_accept(sent, "resend")
    found, elapsed = flow.poll([sent.accession], flow.complete(sent))
    time.sleep(POLL_INTERVAL_S)
    found, _ = flow.poll([sent.accession], lambda found: True)  # one more look
    items = found[sent.accession]
    check.expect(
        len(items) == 1,
        f"{sent.who()} sent twice, answered {first.observed} / {sent.observed}",
        expected="exactly one worklist item for the accession",
        observed=flow.describe(sent, items, elapsed),
    )


def _sweep(check, flow: Flow, hl7_address, minutes: list[int], label: str) -> None:
    """Accepted appointment -> one complete item at its time; refused -> nothing."""
    run = flow.sweep(hl7_address, minutes, label)
    bad: list[str] = []
    affected: list[int] = []
    for minute, s in run.sent.items():
        items = run.found.get(s.accession, [])
        if s.ack in ACCEPTED:
            wrong = [flow.problems(s, i) for i in items]
            if len(items) != 1 or wrong[0]:
                affected.append(minute)
                what = "; ".join(p for w in wrong for p in w) or f"{len(items)} items"
                bad.append(f"{timestamps.hhmm(minute)} ({s.ack}) {s.who()}: {what or 'no item'}")
        elif items:
            affected.append(minute)
            what = " | ".join("; ".join(flow.problems(s, i, compare=False)) for i in items)
            bad.append(
                f"{timestamps.hhmm(minute)} (refused {s.ack or 'no ACK'}) {s.who()}: "
                f"{len(items)} item(s) left: {what or 'a complete item'}"
            )
    for minute in affected[:5]:  # the proof: the HL7 exchange (the C-FINDs are above)
        s = run.sent[minute]
        flow.transcript.note(
            f"{timestamps.hhmm(minute)}: >> {show(s.text)}\n<< {s.observed}\n"
            + "\n".join(f"C-FIND item: {i}" for i in run.found.get(s.accession, []))
        )
    sent = list(run.sent)
    codes = {m: ("A" if s.ack in ACCEPTED else "R") for m, s in run.sent.items()}
    codes.update({m: ("N" if run.sent[m].ack in ACCEPTED else "L") for m in affected})
    check.record("minutes", minute_grid(codes))
    check.expect(
        not bad,
        f"{label}: {len(sent)} appointments on {sweep.when():%Y-%m-%d} "
        f"({len(run.accepted)} accepted), worklist polled for {run.elapsed:.2f} s; "
        f"affected times {sweep.minute_ranges(affected, sent)} ({len(affected)} of {len(sent)})",
        expected="every accepted appointment one complete item at its time; no item for a "
        "refused one",
        observed="\n    "
        + "\n    ".join(bad[:40] + ([f"... and {len(bad) - 40} more"] if len(bad) > 40 else [])),
    )


@pytest.mark.check("workflow.sweep.complete")
def test_sweep_sampled(check, flow, hl7_address):
    """One minute in every hour (24 appointments); ``-m sweep`` sends all 1,440."""
    _sweep(check, flow, hl7_address, sweep.SAMPLE_MINUTES, "sampled end-to-end sweep")


@pytest.mark.sweep
@pytest.mark.check("workflow.sweep.complete")
def test_sweep_full_day(check, flow, hl7_address):
    _sweep(check, flow, hl7_address, sweep.FULL_DAY, "full end-to-end sweep")
