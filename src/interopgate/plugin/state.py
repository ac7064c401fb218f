"""The state of one run, kept in ``config.stash`` (one per pytest process: under xdist
each worker has its own, with its own embedded site).

Other code reads it through :func:`run_state` / :func:`run_profile`, never through the
stash key, so the state's shape can change without touching the suites.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from interopgate.evidence import Transcript
from interopgate.profile import LoadedProfile, Profile

if TYPE_CHECKING:
    from interopgate.targets import RunningTarget


@dataclass
class RunState:
    report_dir: Path
    profiles_dir: Path
    loaded: LoadedProfile | None = None
    target: RunningTarget | None = None  # started in pytest_sessionstart
    unavailable: str | None = None  # why the checks skip (target not available here)
    fatal: str | None = None  # why the run stops before the first check
    exit_stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    evidence_files: list[Path] = field(default_factory=list)
    # "test name: reason" of each item the profile gives nothing to apply to (deselected)
    not_applicable: list[str] = field(default_factory=list)
    # the collector's thresholds before the run changed them (plugin/lifecycle.py)
    gc_thresholds: tuple[int, int, int] | None = None


STATE = pytest.StashKey[RunState]()
TRANSCRIPT = pytest.StashKey[Transcript]()  # on an item: the wire transcript of its check


def run_state(config: pytest.Config) -> RunState:
    return config.stash[STATE]


def run_profile(config: pytest.Config) -> Profile | None:
    """The validated profile of this run, None when no ``--profile`` was given."""
    state = config.stash.get(STATE, None)
    loaded = state.loaded if state is not None else None
    return loaded.profile if loaded is not None else None
