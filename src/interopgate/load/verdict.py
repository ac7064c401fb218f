"""The load run's verdict: per operation latency and error rate against the profile's
``load:`` limits, the loss checks and the association limit, one JUnit testcase each
(properties profile/target/check/clause, a failure with the clause and expected /
observed, as the pytest plugin writes them), and the console table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from interopgate.checks import CHECKS
from interopgate.load.limit import LimitOutcome
from interopgate.load.verify import Loss
from interopgate.profile import Load


@dataclass(frozen=True)
class OperationStats:
    request_type: str  # DICOM | HL7
    name: str  # "C-FIND MWL", "SIU^S12", ...
    count: int
    failures: int
    p50: float  # milliseconds
    p95: float
    p99: float
    rps: float  # completed a second over the run
    first_error: str = ""

    @property
    def error_rate(self) -> float:
        return self.failures / self.count if self.count else 0.0


@dataclass
class Case:
    check: str
    name: str
    outcome: str  # passed | failed | skipped
    expected: str = ""
    observed: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def clause(self) -> str:
        return CHECKS[self.check].clause

    def message(self) -> str:
        return f"{self.name}: {self.clause}\nexpected: {self.expected}\nobserved: {self.observed}"


def thresholds(stats: list[OperationStats], limits: Load) -> list[Case]:
    cases = []
    for op in stats:
        for label, value, limit in (("p95", op.p95, limits.p95_ms), ("p99", op.p99, limits.p99_ms)):
            cases.append(
                Case(
                    "load.latency",
                    f"load.latency[{op.name} {label}]",
                    "passed" if value <= limit else "failed",
                    f"{label} <= {limit:g} ms",
                    f"{label} {value:.0f} ms over {op.count} {op.name}",
                )
            )
        cases.append(
            Case(
                "load.errors",
                f"load.errors[{op.name}]",
                "passed" if op.error_rate <= limits.max_error_rate else "failed",
                f"error rate <= {limits.max_error_rate:.2%}",
                f"{op.failures} of {op.count} {op.name} failed ({op.error_rate:.2%})"
                + (f"; first: {op.first_error}" if op.first_error else ""),
            )
        )
    return cases


def loss(check: str, what: str, found: Loss, limit: int = 20) -> Case:
    name = check
    if found.skipped:
        return Case(check, name, "skipped", observed=found.skipped)
    problems = found.lost + found.duplicated
    shown = problems[:limit] + (
        [f"... and {len(problems) - limit} more"] if len(problems) > limit else []
    )
    observed = (
        f"{len(found.lost)} lost, {len(found.duplicated)} duplicated of {found.checked} {what}"
        + ("".join(f"\n    {line}" for line in shown))
    )
    expected = f"every one of the {found.checked} {what} exactly once"
    return Case(check, name, "failed" if problems else "passed", expected, observed)


def association_limit(outcome: LimitOutcome | None, why_not: str = "") -> Case:
    check = "load.association.limit"
    if outcome is None:
        why_not = why_not or "the profile declares no load.max_associations"
        return Case(check, check, "skipped", observed=why_not)
    expected = (
        f"{outcome.limit} concurrent associations accepted, association {outcome.limit + 1} "
        f"answered within {outcome.timeout:g} s (A-ASSOCIATE-RJ result 2, source 3, reason 2, "
        "or accepted)"
    )
    if outcome.refused_within:
        observed = f"only {outcome.opened} accepted; {outcome.refused_within}"
    elif outcome.hung:
        observed = (
            f"{outcome.limit} accepted; association {outcome.limit + 1} got no A-ASSOCIATE-AC "
            f"or -RJ within {outcome.extra_seconds:.1f} s (hung)"
        )
    else:
        observed = (
            f"{outcome.limit} accepted; association {outcome.limit + 1}: {outcome.extra} "
            f"after {outcome.extra_seconds * 1000:.0f} ms"
        )
    return Case(check, check, "passed" if outcome.passed else "failed", expected, observed)


def table(stats: list[OperationStats], duration: float) -> str:
    head = f"{'operation':22} {'count':>7} {'fail':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'per s':>7}"
    lines = [head, "-" * len(head)]
    for op in stats:
        lines.append(
            f"{op.name:22} {op.count:7d} {op.failures:5d} {op.p50:8.0f} {op.p95:8.0f} "
            f"{op.p99:8.0f} {op.rps:7.2f}"
        )
    lines.append(f"(over {duration:.1f} s of traffic)")
    return "\n".join(lines)


def junit(cases: list[Case], path: Path, *, profile: str, target: str, seconds: float) -> Path:
    suite = ET.Element(
        "testsuite",
        name="interopgate-load",
        tests=str(len(cases)),
        failures=str(sum(c.outcome == "failed" for c in cases)),
        skipped=str(sum(c.outcome == "skipped" for c in cases)),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for case in cases:
        node = ET.SubElement(
            suite, "testcase", classname="interopgate.load", name=case.name, time="0"
        )
        props = ET.SubElement(node, "properties")
        for key, value in (
            ("profile", profile),
            ("target", target),
            ("check", case.check),
            ("clause", case.clause),
        ):
            ET.SubElement(props, "property", name=key, value=value)
        if case.outcome == "failed":
            failure = ET.SubElement(node, "failure", message=case.message().splitlines()[0])
            failure.text = case.message()
        elif case.outcome == "skipped":
            ET.SubElement(node, "skipped", message=case.observed)
        else:
            ET.SubElement(node, "system-out").text = f"observed: {case.observed}"
    root = ET.Element("testsuites")
    root.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
