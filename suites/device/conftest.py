"""The device as the system under test (``pytest --profile=NAME --role=scp``): each check
judges what the device sent the emulated site, from the recorded session
(interopgate.emulate.evaluate). Collected only with ``--role=scp``."""

from __future__ import annotations

import pytest

from interopgate.emulate.evaluate import EVALUATORS


def judge(check, emulation, profile) -> None:
    """The check's verdict on the recording: a skip naming why there was nothing to
    judge, or a failure with every finding's subject, expected and observed."""
    outcome = EVALUATORS[check.id](emulation.session, profile)
    if emulation.evidence is not None:
        for suffix in (".txt", ".pcapng"):
            check.transcript.note(f"session evidence: {emulation.evidence.with_suffix(suffix)}")
    check.transcript.note(f"session: {emulation.folder}; judged {outcome.judged}")
    if outcome.not_applicable:
        pytest.skip(outcome.not_applicable)
    if outcome.findings:
        first, rest = outcome.findings[0], outcome.findings[1:]
        for finding in rest:
            check.transcript.note(
                f"also: {finding.subject}: expected {finding.expected}; observed {finding.observed}"
            )
        more = f" (and {len(rest)} more, see the evidence)" if rest else ""
        check.fail(first.subject + more, expected=first.expected, observed=first.observed)


@pytest.fixture
def device_verdict(check, emulation, profile):
    """Call it to judge the running check on the recorded session."""
    return lambda: judge(check, emulation, profile)
