"""A target that dies mid-run, or a run that is interrupted: clear failures for what is
left, a complete report, no hang, and no server process left behind."""

from __future__ import annotations

import pytest

from tests.conftest import SUITES
from tests.junit import read_cases
from tests.test_process_targets import _require, alive, server_pids

# A plugin the subprocess run loads with -p: after N checks, something bad happens.
KILLER = """
import os, signal, time
from interopgate.plugin import STATE

DONE = []

def pytest_runtest_teardown(item):
    if item.get_closest_marker("check") is None:
        return
    DONE.append(item.nodeid)
    if len(DONE) == {after}:
        target = item.config.stash[STATE].target
        {action}
"""
KILL_SERVER = "os.kill(target.pid, signal.SIGKILL); time.sleep(0.2)"
# What Python's SIGINT handler does, raised where it is wanted: a signal sent to the own
# process occasionally landed after the run had already finished.
INTERRUPT_RUN = "raise KeyboardInterrupt"


def _plugin(pytester: pytest.Pytester, after: int, action: str) -> None:
    pytester.makepyfile(ig_chaos=KILLER.format(after=after, action=action))


def test_server_killed_mid_run_fails_the_remaining_checks_clearly(run_suites, pytester):
    _require("dcmtk-dcmqrscp")
    _plugin(pytester, after=3, action=KILL_SERVER)
    result, junit = run_suites(
        "--profile=agfa-cr",
        "--target=dcmtk-dcmqrscp",
        "-p",
        "ig_chaos",
        suites=SUITES / "dicom" / "test_association.py",
    )
    output = result.stdout.str()
    assert result.ret == 1, output
    cases = [c for c in read_cases(junit) if "not applicable" not in c.message]
    assert len(cases) == 15, output  # the report is complete: every check has a verdict
    assert [c.outcome for c in cases[:3]] == ["passed"] * 3
    after = cases[3:]
    assert after and all(c.outcome == "failed" for c in after), output
    for case in after:
        assert "expected:" in case.message and "observed:" in case.message, case.message
        assert "no TCP connection to 127.0.0.1:" in case.message, case.message
        assert "process (pid " in case.message and "killed by SIGKILL" in case.message
        assert "Traceback" not in case.message
    assert result.duration < 60, "a dead target must not make checks wait for timeouts"
    log = pytester.path / "reports" / "targets" / "dcmtk-dcmqrscp.log"
    assert "stopped (killed by SIGKILL)" in log.read_text()


def test_interrupted_run_stops_the_server(run_suites, pytester):
    """Ctrl-C (SIGINT) during the run: pytest stops, and so does the server."""
    _require("dcmtk-wlmscpfs")
    _plugin(pytester, after=1, action=INTERRUPT_RUN)
    result, junit = run_suites("--profile=agfa-cr", "--target=dcmtk-wlmscpfs", "-p", "ig_chaos")
    assert result.ret == 2, result.stdout.str()  # pytest's "interrupted"
    assert "KeyboardInterrupt" in result.stdout.str()
    log = pytester.path / "reports" / "targets" / "dcmtk-wlmscpfs.log"
    pids = server_pids(log)
    assert pids and not any(alive(pid) for pid in pids)
    assert "--- interopgate: stopped (" in log.read_text()
    assert junit.exists()
