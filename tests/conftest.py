"""Self-tests of the harness. `pytester` runs the conformance suites as a user would."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import forked_pytest

pytest_plugins = ["pytester"]

# The self-tests start hundreds of Python processes (pytester subprocesses, the CLI, the
# site): with bytecode writing off (PYTHONDONTWRITEBYTECODE, set in some CI images) each
# one compiles and assertion-rewrites the harness again, ~1.5 s of every suite run.
# __pycache__ is git-ignored; the conformance suites themselves do not care.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"
PROFILES = ROOT / "profiles"

# Hypothesis keeps the Unicode tables its text strategies need (~2 s of CPU to build; the
# robustness suite draws from a regex) in its storage directory, .hypothesis/ under the
# cwd. Every suite run of the self-tests has a pytester directory of its own as cwd and
# would build them again: one directory for every process instead (git-ignored).
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(ROOT / ".hypothesis"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "differential_long: the long differential run against DCMTK (opt in with "
        "-m differential_long)",
    )
    config.addinivalue_line(
        "markers",
        "differential_full: the differential run against DCMTK at its CI size (opt in with "
        "-m differential_full; .ci/run runs it after the rest)",
    )
    config.addinivalue_line(
        "markers", "load: runs of `interopgate load` (seconds each; opt in with -m load)"
    )
    config.addinivalue_line(
        "markers",
        "fault_matrix_full: every fault against every suite, the full cross-check (opt in "
        "with -m fault_matrix_full; .ci/run runs it after the rest)",
    )


# Self-tests deselected unless their marker is asked for with -m.
OPT_IN = ("differential_long", "differential_full", "fault_matrix_full", "load")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long runs (OPT_IN markers) only when asked for (``-m differential_long``,
    ``-m fault_matrix_full``); deselected, not skipped, as suites/conftest.py does for
    ``sweep``."""
    expression = config.option.markexpr or ""
    wanted = {m for m in OPT_IN if m in expression and f"not {m}" not in expression}
    long_runs = [
        item for item in items if any(item.get_closest_marker(m) for m in OPT_IN if m not in wanted)
    ]
    if long_runs:
        config.hook.pytest_deselected(items=long_runs)
        gone = {id(item) for item in long_runs}
        items[:] = [item for item in items if id(item) not in gone]


@pytest.fixture
def run_suites(pytester: pytest.Pytester):
    """Run the conformance suites in a process of their own, forked from a preloaded
    one (tests/forked_pytest.py; ``INTEROPGATE_SELFTEST_EXEC=1`` starts a new Python
    instead, as ``pytester.runpytest_subprocess`` does); return (result, junit path)."""

    def run(*args: str, suites: Path | list[Path] = SUITES):
        report_dir = pytester.path / "reports"
        paths = [suites] if isinstance(suites, Path) else suites
        runner = (
            pytester.runpytest_subprocess
            if os.environ.get("INTEROPGATE_SELFTEST_EXEC") == "1"
            else functools.partial(forked_pytest.run, pytester)
        )
        result = runner(
            *map(str, paths),
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
