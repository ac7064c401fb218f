"""Self-tests of the harness. `pytester` runs the conformance suites as a user would."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"
PROFILES = ROOT / "profiles"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "differential_long: the long differential run against DCMTK (opt in with "
        "-m differential_long)",
    )
    config.addinivalue_line(
        "markers", "load: runs of `interopgate load` (seconds each; opt in with -m load)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long differential run (``@pytest.mark.differential_long``) only when asked for
    (``-m differential_long``); deselected, not skipped, as suites/conftest.py does for
    ``sweep``."""
    expression = config.option.markexpr or ""
    if "differential_long" in expression and "not differential_long" not in expression:
        return
    long_runs = [item for item in items if item.get_closest_marker("differential_long")]
    if long_runs:
        config.hook.pytest_deselected(items=long_runs)
        items[:] = [item for item in items if not item.get_closest_marker("differential_long")]
    if "load" not in expression.replace("not load", ""):
        runs = [item for item in items if item.get_closest_marker("load")]
        config.hook.pytest_deselected(items=runs)
        items[:] = [item for item in items if not item.get_closest_marker("load")]


@pytest.fixture
def run_suites(pytester: pytest.Pytester):
    """Run the conformance suites in a subprocess; return (result, junit path)."""

    def run(*args: str, suites: Path = SUITES):
        report_dir = pytester.path / "reports"
        result = pytester.runpytest_subprocess(
            str(suites),
            f"--rootdir={ROOT}",
            f"--report-dir={report_dir}",
            "-p",
            "no:cacheprovider",
            *args,
            timeout=180,
        )
        return result, report_dir / "junit.xml"

    return run


@contextlib.contextmanager
def interopgate_site(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`interopgate site` on free ports, as a person starts it: yields the process and
    its first line (the addresses); stopped afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "interopgate.cli",
            "site",
            "--dicom-port",
            "0",
            "--hl7-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)
