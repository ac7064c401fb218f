"""The conformance report: one run's (or one capture analysis's) results as data
(``model``: the versioned ``results.json`` schema) and as one self-contained HTML page
people read and print (``html``)."""

from __future__ import annotations

from interopgate.report.model import (
    SCHEMA,
    SCHEMA_VERSION,
    VERDICTS,
    CheckResult,
    RunReport,
    area_of,
    minute_grid,
)

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "VERDICTS",
    "CheckResult",
    "RunReport",
    "area_of",
    "minute_grid",
]
