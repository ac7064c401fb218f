"""The run's lifecycle: configure (markers, the profile), start the target before the
header prints, stop the run early when the target cannot be reached, stop the target.

The target is started in ``pytest_sessionstart`` (so the header can show its address)
and stopped in ``pytest_sessionfinish``; under xdist each worker starts its own and the
controller starts none.
"""

from __future__ import annotations

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


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    fatal = run_state(session.config).fatal
    if fatal:
        pytest.exit(fatal, returncode=3)


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
