"""The load suite (`interopgate load`, interopgate/load/) against real peers.

Each run is its own process (Locust monkey-patches socket and threading with gevent, so
it never runs inside pytest's). Those below marked ``load`` (opt in with ``-m load``)
run the command for seconds against the embedded site, with each load fault (exactly its
load.* check fails), with one master and two workers on loopback, and against the
MessageFoundry + wlmscpfs site; the rest are quick checks of its parts and its input.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from interopgate.checks import CHECKS
from interopgate.load.options import duration
from interopgate.load.plan import Ledger
from interopgate.site.faults import FAULTS, LOAD_FAULTS
from tests.junit import failing_checks, read_cases

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "interopgate.cli", "load", "--profile=agfa-cr"]


def _load(
    tmp_path: Path, *args: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess, Path]:
    junit = tmp_path / "load-junit.xml"
    result = subprocess.run(
        [*COMMAND, f"--junit={junit}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, junit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ quick, by default


@pytest.mark.parametrize(
    ("text", "seconds"), [("60", 60), ("60s", 60), ("2m", 120), ("1h30m", 5400), ("1.5s", 1.5)]
)
def test_duration_reads_as_locust_does(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0s", "5x"])
def test_a_bad_duration_is_one_sentence(text):
    with pytest.raises(argparse.ArgumentTypeError, match="duration"):
        duration(text)


def test_ledgers_merge_across_workers():
    one, two = Ledger(), Ledger()
    one.orders["A1"], two.orders["A2"] = "SIU^S12 MSH-10 1", "SIU^S12 MSH-10 2"
    one.saw("A1", 1)
    two.saw("A1", 2)
    two.instances["1.2.3"] = ("1", "2", "3")
    merged = Ledger.from_dict(one.to_dict())
    merged.merge(Ledger.from_dict(two.to_dict()))
    assert set(merged.orders) == {"A1", "A2"}
    assert merged.seen["A1"] == 2 and merged.instances["1.2.3"] == ("1", "2", "3")


def test_load_faults_are_catalogued_with_load_checks():
    assert set(FAULTS) >= LOAD_FAULTS
    for name in LOAD_FAULTS:
        assert all(check.startswith("load.") for check in FAULTS[name].breaks), name
    load_checks = {c for c in CHECKS if c.startswith("load.")}
    assert load_checks == {c for f in LOAD_FAULTS for c in FAULTS[f].breaks}


def test_bad_input_is_one_sentence(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "interopgate.cli", "load", "--users", "0", "--profile=agfa-cr"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--users 0" in result.stderr and "Traceback" not in result.stderr
    result, _ = _load(tmp_path, "--site-fault=no-such-fault", "--duration=1s")
    assert result.returncode == 2 and "no-such-fault" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_locust_is_one_sentence(monkeypatch, capsys):
    """A plain `pip install -e .` has no Locust (the `load` extra): one line, exit 2."""
    import importlib.util

    from interopgate import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "locust" else real(name, *a)
    )
    sigpipe = signal.getsignal(signal.SIGPIPE)
    assert cli.main(["load", "--profile=agfa-cr"]) == 2
    # main() with an argv leaves the host process's SIGPIPE alone: SIG_DFL here would let
    # a later write to a closed socket kill the xdist worker
    assert signal.getsignal(signal.SIGPIPE) == sigpipe
    err = capsys.readouterr().err
    assert "Locust" in err and ".[load]" in err and "Traceback" not in err


# ------------------------------------------------------------------ runs: -m load


@pytest.mark.load
def test_clean_embedded_site_passes_with_percentiles(tmp_path):
    result, junit = _load(tmp_path, "--users=4", "--duration=8s")
    assert result.returncode == 0, result.stdout + result.stderr
    for operation in ("C-FIND MWL", "N-CREATE MPPS", "C-STORE", "N-SET MPPS", "SIU^S12"):
        assert operation in result.stdout
    assert "p95 ms" in result.stdout and "verdict: PASS" in result.stdout
    cases = read_cases(junit)
    assert {c.outcome for c in cases} == {"passed"}, result.stdout
    checks = {c.properties["check"] for c in cases}
    assert checks == {c for c in CHECKS if c.startswith("load.")}


# What each load fault needs to show: orders (the first of each 100 is dropped), enough
# stores for every 10th; the limit check only where it is the point.
FAULT_ARGS = {
    "hl7-order-dropped-under-load": ["--users=2", "--duration=5s", "--message-rate=5"],
    "storage-dropped-under-load": ["--users=4", "--duration=8s"],
    "storage-busy-under-load": ["--users=4", "--duration=8s"],
    "storage-slow-under-load": ["--users=4", "--duration=8s"],
    "association-limit-hang": ["--users=2", "--duration=3s"],
}


@pytest.mark.load
@pytest.mark.parametrize("fault", sorted(LOAD_FAULTS))
def test_load_fault_fails_exactly_its_check(tmp_path, fault):
    args = [*FAULT_ARGS[fault], f"--site-fault={fault}"]
    if fault != "association-limit-hang":
        args.append("--no-limit-check")
    result, junit = _load(tmp_path, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    cases = read_cases(junit)
    assert failing_checks(cases) == set(FAULTS[fault].breaks), output
    for case in cases:
        if case.outcome == "failed":
            assert CHECKS[case.properties["check"]].clause in case.message
            assert "expected:" in case.message and "observed:" in case.message
    if fault == "hl7-order-dropped-under-load":
        lost = next(c for c in cases if c.properties["check"] == "load.loss.orders")
        assert "1 lost" in lost.message and "accession L" in lost.message, lost.message
    if fault == "association-limit-hang":
        assert "hung" in output


@pytest.mark.load
def test_one_master_two_workers_on_loopback(tmp_path):
    port = str(_free_port())
    worker = [sys.executable, "-m", "interopgate.load", "--worker", f"--master-port={port}"]
    workers = [
        subprocess.Popen(
            worker, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    try:
        result, junit = _load(
            tmp_path,
            "--master",
            "--master-bind-host=127.0.0.1",
            f"--master-port={port}",
            "--expect-workers=2",
            "--users=5",
            "--duration=6s",
            "--no-limit-check",
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "master of 2 worker(s)" in output and "verdict: PASS" in output
        orders = next(c for c in read_cases(junit) if c.properties["check"] == "load.loss.orders")
        assert orders.outcome == "passed"
        for process in workers:
            process.wait(30)  # the master's quit ends them
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()


@pytest.mark.load
def test_messagefoundry_site_prints_percentiles_and_a_verdict(tmp_path):
    from interopgate.targets import process

    problem = process.missing(process.server_for("messagefoundry-wlmscpfs"))
    if problem is not None:
        if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
            pytest.fail(f"{problem}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
        pytest.skip(problem)
    result, junit = _load(
        tmp_path, "--target=messagefoundry-wlmscpfs", "--users=4", "--duration=8s"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "C-FIND MWL" in output and "SIU^S12" in output and "verdict: PASS" in output
    orders = next(c for c in read_cases(junit) if c.properties["check"] == "load.loss.orders")
    assert orders.outcome == "passed", output


def test_the_load_section_is_validated(tmp_path):
    from interopgate.errors import ProfileError
    from interopgate.profile import load_profile

    (tmp_path / "x.yaml").write_text("extends: agfa-cr\nload: {users: 2, senders: 2}\n")
    with pytest.raises(ProfileError, match="senders"):
        load_profile(str(tmp_path / "x.yaml"), ROOT / "profiles")
    (tmp_path / "y.yaml").write_text("extends: agfa-cr\nload: {query_intervall: 2}\n")
    with pytest.raises(ProfileError, match="query_interval"):
        load_profile(str(tmp_path / "y.yaml"), ROOT / "profiles")
    assert load_profile("agfa-cr", ROOT / "profiles").profile.load.max_associations == 32
