"""Verdicts a vendor accepts: the clause, the subject, expected vs observed, the evidence.

A failing check calls :meth:`CheckContext.fail`; the message is plain text (no Python
traceback, ``pytrace=False``) because it is what the engineer forwards to the vendor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from interopgate.checks import Check
from interopgate.evidence import Transcript


def format_failure(
    clause: str, subject: str, expected: str, observed: str, evidence: Path | None = None
) -> str:
    lines = [f"{clause}: {subject}", f"  expected: {expected}", f"  observed: {observed}"]
    if evidence is not None:
        lines.append(f"  evidence: {evidence}")
    return "\n".join(lines)


@dataclass
class CheckContext:
    """What a running check knows about itself; given to tests as the ``check`` fixture."""

    check: Check
    transcript: Transcript
    # the item's user_properties: what record() adds reaches the report (report/)
    properties: list[tuple[str, object]] = field(default_factory=list, repr=False)
    progress: Callable[[str], None] = field(default=lambda text: None, repr=False)

    def record(self, name: str, value: object) -> None:
        """Data for the conformance report beside the verdict: ``minutes`` (a sweep's
        ``report.minute_grid``), ``timeline`` (``[(seconds, event), ...]``)."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.properties.append((name, text))

    @property
    def id(self) -> str:
        return self.check.id

    def fail(self, subject: str, *, expected: str, observed: str) -> NoReturn:
        self.transcript.note(f"VERDICT FAIL: {subject}: expected {expected}; observed {observed}")
        pytest.fail(
            format_failure(self.check.clause, subject, expected, observed, self.transcript.path),
            pytrace=False,
        )

    def expect(self, condition: bool, subject: str, *, expected: str, observed: str) -> None:
        if not condition:
            self.fail(subject, expected=expected, observed=observed)
