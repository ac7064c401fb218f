"""The run's lifecycle: configure (markers, the profile), start the target before the
header prints, stop the run early when the target cannot be reached, stop the target.

The target is started in ``pytest_sessionstart`` (so the header can show its address)
and stopped in ``pytest_sessionfinish``; under xdist each worker starts its own and the
controller starts none.
"""

from __future__ import annotations

import gc

import pytest

from interopgate.errors import InteropGateError, TargetError, TargetUnavailable
from interopgate.plugin import options, reporting
from interopgate.plugin.state import STATE, RunState, run_state
from interopgate.profile import load_profile

MARKERS = [
    "check(id): the conformance check this test implements (see `interopgate checks`)",
    "not_applicable(reason): deselected: the profile gives this check nothing to apply to",
]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Runs before junitxml/pytest-html configure, so their defaults can point at reports/."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    state = RunState(
        report_dir=options.report_dir(config), profiles_dir=options.profiles_dir(config)
    )
    config.stash[STATE] = state
    reporting.configure(config, state)
    options.resolve_repeat(config)
    overrides = options.target_fields(config)
    if config.option.ig_profile:
        try:
            state.loaded = load_profile(
                config.option.ig_profile,
                state.profiles_dir,
                target=config.option.ig_target,
                extra_faults=config.option.ig_faults,
                target_fields=overrides,
            )
        except InteropGateError as exc:
            raise pytest.UsageError(f"interopgate: {exc}") from None
    elif config.option.ig_target or config.option.ig_faults or overrides:
        raise pytest.UsageError(
            "interopgate: --target, --site-fault and the target options need --profile=NAME"
        )


def _uses_xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start (or pre-flight) the target before the header prints, so it can show ports."""
    config = session.config
    state = run_state(config)
    if state.loaded is None or _uses_xdist_controller(config):
        return
    if config.option.ig_role == "scp":
        return  # no target: the device is under test (plugin/emulation.py plays its site)
    from interopgate import targets

    worker = getattr(config, "workerinput", {}).get("workerid")
    work_dir = state.report_dir / (f"work-{worker}" if worker else "work")
    profile = state.loaded.profile
    try:
        state.target = state.exit_stack.enter_context(
            targets.start(profile, profile.device.ae_title, work_dir)
        )
    except TargetUnavailable as exc:
        state.unavailable = str(exc)
    except TargetError as exc:
        # Exit from the run loop, not here: after sessionstart, so reports are still written.
        state.fatal = f"interopgate: {exc}"


# The cyclic garbage collector during a run (Python's gc module): the first generation
# collected every 50,000 allocations net, not 700, and the older ones a third as often.
# A sweep keeps thousands of datasets, transcripts and capture frames alive to judge them
# at the end; with the interpreter's defaults the collector walked that growing heap
# again and again (0.9 of 9 CPU-s of `-m sweep`). What is alive once collection ends
# (modules, the profile, test items) is frozen out of every later collection.
GC_THRESHOLDS = (50_000, 20, 30)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    state = run_state(session.config)
    if state.fatal:
        pytest.exit(state.fatal, returncode=3)
    if state.loaded is not None and state.gc_thresholds is None:
        state.gc_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A check on a target that is not available here skips with the reason, once per check."""
    if item.get_closest_marker("check") is None:
        return
    unavailable = run_state(item.config).unavailable
    if unavailable:
        pytest.skip(unavailable)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.exit_stack.close()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The collector's thresholds as they were (an in-process pytest run leaves them as
    it found them), after the reports are written. What was frozen stays frozen: pytest
    collects once more after this hook, and unfrozen that collection would walk (and, in
    a forked process, copy) every object the process ever imported."""
    state = config.stash.get(STATE, None)
    if state is not None and state.gc_thresholds is not None:
        gc.set_threshold(*state.gc_thresholds)
        state.gc_thresholds = None
