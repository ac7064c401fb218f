"""A conformance run as data: the header, one :class:`CheckResult` per check item, the
summary by area, written as ``results.json`` (schema ``interopgate-results``, version
:data:`SCHEMA_VERSION`, described in docs/report.md) and read back by other tools.

Areas come from the check ids (:func:`area_of`), never from a fixed list, so a new
family of checks gets its own row without touching this module.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "interopgate-results"
SCHEMA_VERSION = 1

# A check's verdict in the report, in the order the summary table shows them.
VERDICTS = ("pass", "fail", "known_deviation", "not_applicable", "skipped")

# One character per minute of the day (00:00 first, 1,440 in all) in a sweep's
# ``minutes`` property: what the message of that minute met.
MINUTE_CODES = {
    "A": "accepted (and, end to end, one complete item)",
    "R": "refused (MSA-1 AE/AR, or no ACK)",
    "N": "accepted, but no complete worklist item",
    "L": "refused, yet a worklist item was left",
    ".": "not sent",
}
MINUTES_PER_DAY = 24 * 60


def area_of(check_id: str) -> str:
    """The suite area a check belongs to: ``dicom.worklist.x`` → worklist,
    ``dicom.find.x`` → find, ``hl7.ack.x`` → hl7, ``workflow.x`` → workflow (any new
    prefix is an area of its own)."""
    parts = check_id.split(".")
    return parts[1] if parts[0] == "dicom" and len(parts) > 2 else parts[0]


def minute_grid(outcomes: Mapping[int, str]) -> str:
    """A sweep's outcomes (minute of the day → a :data:`MINUTE_CODES` key) as the
    1,440-character ``minutes`` property; minutes not given are ``.`` (not sent)."""
    bad = {code for code in outcomes.values() if code not in MINUTE_CODES}
    if bad:
        raise ValueError(f"minute codes {sorted(bad)}: expected one of {''.join(MINUTE_CODES)}")
    return "".join(outcomes.get(minute, ".") for minute in range(MINUTES_PER_DAY))


@dataclass
class CheckResult:
    """One check item (a parametrized check is one item per parameter)."""

    id: str
    nodeid: str
    verdict: str  # one of VERDICTS
    title: str = ""
    clause: str = ""
    area: str = ""
    duration: float = 0.0  # seconds, setup + call + teardown
    subject: str = ""
    expected: str = ""
    observed: str = ""
    reason: str = ""  # skip / not-applicable / known-deviation reason, or the failure's first line
    evidence: list[str] = field(default_factory=list)  # paths relative to the report
    minutes: str = ""  # a sweep's minute_grid, else ""
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (seconds, event)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}: expected one of {', '.join(VERDICTS)}")
        self.area = self.area or area_of(self.id)


@dataclass
class RunReport:
    """The header (``run``: profile, device, target identity, date, seed, version) and
    the checks; ``title`` heads the page."""

    title: str
    run: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)

    def areas(self) -> dict[str, Counter[str]]:
        """Per area (sorted), the count of each verdict."""
        table: dict[str, Counter[str]] = {}
        for check in self.checks:
            table.setdefault(check.area, Counter())[check.verdict] += 1
        return {area: table[area] for area in sorted(table)}

    def totals(self) -> Counter[str]:
        return Counter(check.verdict for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "title": self.title,
            "run": self.run,
            "summary": {
                area: {v: counts.get(v, 0) for v in VERDICTS}
                for area, counts in self.areas().items()
            },
            "totals": {v: self.totals().get(v, 0) for v in VERDICTS},
            "checks": [asdict(check) for check in self.checks],
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read_json(cls, path: Path) -> RunReport:
        """A ``results.json`` back; a file of another schema or a newer version is an
        error naming the file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA or data.get("version", 0) > SCHEMA_VERSION:
            raise ValueError(
                f"{path}: not an {SCHEMA} file of version {SCHEMA_VERSION} or older "
                f"(schema {data.get('schema')!r}, version {data.get('version')!r})"
            )
        checks = []
        for raw in data["checks"]:
            raw["timeline"] = [tuple(event) for event in raw.get("timeline", [])]
            checks.append(CheckResult(**raw))
        return cls(data["title"], data["run"], checks)


_FIELD = re.compile(r"^  (expected|observed|evidence|target): ?", re.MULTILINE)


def parse_failure(text: str) -> dict[str, str]:
    """The parts of a verdict message (verdict.format_failure): the first line
    (``clause: subject``), ``expected:``, ``observed:`` (may span lines), ``evidence:``
    and ``target:``; what a message lacks is missing from the result."""
    parts: dict[str, str] = {}
    marks = list(_FIELD.finditer(text))
    head = text[: marks[0].start()] if marks else text
    parts["head"] = head.strip()
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        parts[mark.group(1)] = text[mark.end() : end].strip("\n").rstrip()
    return parts
