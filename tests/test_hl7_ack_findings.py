"""Findings the HL7 suites must report however the target behaves: a receiver that
acknowledges messages again (HL7 2.5 §2.9.2: one ACK per message) and an engine too slow
for the sweep's budget (a report of what was sent, not a timeout traceback)."""

from __future__ import annotations

import re
import time

from interopgate.hl7 import er7
from interopgate.hl7.messages import build_ack
from interopgate.hl7.mllp import MLLPListener
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.sweep import timeout_for
from tests.conftest import SUITES
from tests.junit import read_cases

HL7_SUITES = SUITES / "hl7"
REPEATED = re.compile(
    r"(\d+) ACK\(s\) for (\d+) message\(s\) already acknowledged; first: MSH-10 (\S+) "
    r"acknowledged again \(MSA-1 AA\)"
)


def test_a_redelivering_receiver_fails_the_sweep_and_the_resend_naming_first_and_count(
    run_suites,
):
    result, junit = run_suites(
        "--profile=agfa-cr",
        "--site-fault=hl7-redelivers-earlier-messages",
        "-k",
        "sweep_sampled or resend or one_ack",
        suites=HL7_SUITES,
    )
    failed = {c.name: c.message for c in read_cases(junit) if c.outcome == "failed"}
    assert result.ret == 1, result.stdout.str()
    sweep = next(m for n, m in failed.items() if "sweep_sampled" in n)
    resend = next(m for n, m in failed.items() if "resend" in n)
    assert next(m for n, m in failed.items() if "one_ack" in n)
    # 24 messages on one connection: message n brings back n ACKs, n-1 of them repeats.
    count, messages, first = REPEATED.search(sweep).groups()
    assert (int(count), int(messages)) == (sum(range(24)), 23)
    assert first.startswith("SW")
    count, messages, _ = REPEATED.search(resend).groups()
    assert (int(count), int(messages)) == (1, 1)
    assert "right after its own ACK" in resend


def _slow_receiver(delay: float) -> MLLPListener:
    """An engine that answers AA, correctly, after ``delay`` seconds per message."""

    def answer(received, connection):
        time.sleep(delay)
        text = received.payload.decode("latin-1")
        return build_ack(
            "2.5",
            sending=("RIS", "RAD"),
            receiving=(er7.value(text, "MSH-3"), er7.value(text, "MSH-4")),
            trigger=er7.value(text, "MSH-9.2"),
            code="AA",
            control_id=er7.value(text, "MSH-10"),
        )

    return MLLPListener(answer).start()


def test_a_slow_engine_ends_the_sweep_in_its_report_not_in_a_timeout(run_suites, tmp_path):
    slow = _slow_receiver(0.3)
    try:
        with ReferenceSite(SiteConfig()) as dicom:
            host, port = dicom.dicom_address
            profile = tmp_path / "slow-engine.yaml"
            profile.write_text(
                "extends: agfa-cr\nhl7: {sweep_budget: 1}\n"
                f"target: {{kind: live, host: {host}, dicom_port: {port}, "
                f"hl7_port: {slow.address[1]}, called_ae: IG_PACS}}\n"
            )
            result, junit = run_suites(
                f"--profile={profile}", "-k", "sweep_sampled", suites=HL7_SUITES
            )
    finally:
        slow.stop()
    output = result.stdout.str()
    (case,) = [c for c in read_cases(junit) if c.outcome == "failed"]
    assert "the sweep's time budget of 1 s (hl7.sweep_budget) ran out" in case.message
    assert re.search(r"\d+ of 24 sampled minutes not sent", case.message), case.message
    assert "Timeout" not in output and "Traceback" not in case.message


def test_the_sweep_timeout_follows_its_budget():
    assert timeout_for(240, 5, 5) > 240 + 5 + 5
    assert timeout_for(1, 5, 5) < 120  # pytest's default per-test timeout is no floor
