"""``--role=scp``: the device is the system under test and the harness plays its site.

Instead of starting a target, the run records a session with the emulated site
(emulate/scp.py) for ``--emulate-duration`` seconds, or loads one (``--recording``), and
suites/device judges it. The device suites are collected only with ``--role=scp`` and
the PACS-side suites only without it, so the default run is unchanged.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from interopgate.emulate.session import Session
from interopgate.errors import InteropGateError
from interopgate.plugin.state import run_state

SESSION_DIR = "emulate-session"


@dataclass
class Emulation:
    """The recording the device checks judge, and where its wire evidence is."""

    session: Session
    folder: Path
    evidence: Path | None = None  # the session's transcript (.txt) / capture (.pcapng)


EMULATION = pytest.StashKey[Emulation]()


def _suite_folder(path: Path) -> str | None:
    return path.name if path.parent.name == "suites" and path.is_dir() else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    folder = _suite_folder(collection_path)
    if folder is None:
        return None
    if config.option.ig_role == "scp":
        return True if folder != "device" else None
    return True if folder == "device" else None


def record(config: pytest.Config) -> Emulation:
    """Run the emulated site for ``--emulate-duration`` seconds (or until Ctrl-C)."""
    from interopgate.emulate.scp import EmulatedSite

    state = run_state(config)
    profile = state.loaded.profile  # type: ignore[union-attr]
    evidence = state.report_dir / "evidence" / "emulated-site"
    site = EmulatedSite(
        profile,
        port=config.option.ig_emulate_port,
        seed=getattr(config.option, "ig_seed", 20240916),
        evidence=evidence,
    ).start()
    duration = config.option.ig_emulate_duration
    print(
        f"\n{site.config_line()}\nrecording for {duration:g} s (Ctrl-C ends early)", file=sys.stderr
    )
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(duration)
    session = site.stop()
    folder = state.report_dir / SESSION_DIR
    session.save(folder)
    return Emulation(session, folder, evidence)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = run_state(config)
    if config.option.ig_role != "scp" or state.loaded is None:
        return
    if hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None):
        state.fatal = "interopgate: --role=scp records one session: run it without -n"
        return
    try:
        if config.option.ig_recording:
            folder = Path(config.option.ig_recording)
            evidence = folder.parent / "evidence" / "emulated-site"
            config.stash[EMULATION] = Emulation(Session.load(folder), folder, evidence)
        else:
            config.stash[EMULATION] = record(config)
    except InteropGateError as exc:
        state.fatal = f"interopgate: {exc}"


@pytest.fixture(scope="session")
def emulation(pytestconfig: pytest.Config) -> Emulation:
    """The recorded session of the device under test (``--role=scp``)."""
    found = pytestconfig.stash.get(EMULATION, None)
    if found is None:
        pytest.fail("the device checks need --role=scp (and --profile=NAME)", pytrace=False)
    return found
