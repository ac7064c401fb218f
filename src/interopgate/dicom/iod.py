"""IOD validation with David Clunie's ``dciodvfy`` (Debian package ``dicom3tools``).

The validator knows the modules and attribute types of every IOD of PS3.3 and runs
offline; it reads a Part 10 file, so the data set is written to a temporary file first
(PS3.10 7.1). Its "Error" lines are violations of the IOD (a Type 1 attribute missing or
empty, a Type 2 absent, an enumerated value outside its Defined Terms); "Warning" lines
are advice and do not make an instance invalid.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

PACKAGE = "dicom3tools"
BINARY = "dciodvfy"


@dataclass
class IODReport:
    """What dciodvfy said about one instance."""

    iod: str = ""  # the IOD it recognised, e.g. CRImage
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validator() -> str | None:
    """The path of dciodvfy, or None when dicom3tools is not installed."""
    return shutil.which(BINARY)


def validate(ds: Dataset, binary: str | None = None) -> IODReport:
    """Validate ``ds`` (with its ``file_meta``) against its IOD."""
    binary = binary or validator()
    if binary is None:
        raise FileNotFoundError(f"{BINARY} not found; install the Debian package {PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="interopgate-iod-") as tmp:
        path = Path(tmp) / "instance.dcm"
        ds.save_as(path, enforce_file_format=True)
        result = subprocess.run(
            [binary, str(path)], capture_output=True, text=True, errors="replace", timeout=120
        )
    report = IODReport()
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("Error"):
            report.errors.append(line)
        elif line.startswith("Warning"):
            report.warnings.append(line)
        elif line.strip() and not report.iod and " " not in line.strip():
            report.iod = line.strip()
    return report
