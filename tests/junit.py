"""Reading the JUnit XML the plugin writes, as CI would."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Case:
    name: str
    outcome: str  # passed | failed | error | skipped | xfailed
    properties: dict[str, str]
    message: str


def read_cases(path: Path) -> list[Case]:
    cases = []
    for testcase in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in testcase.iter("property")}
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = testcase.find(tag)
            if node is not None:
                outcome = "failed" if tag == "failure" else tag
                message = (node.get("message") or "") + "\n" + (node.text or "")
                if tag == "skipped" and (node.get("type") == "pytest.xfail"):
                    outcome = "xfailed"
        cases.append(Case(testcase.get("name", ""), outcome, props, message))
    return cases


def failing_checks(cases: list[Case]) -> set[str]:
    return {c.properties.get("check", c.name) for c in cases if c.outcome in ("failed", "error")}
