"""What collection makes of the suites' tests: each ``@pytest.mark.check(id)`` resolved
in the check registry (checks.py), the JUnit properties the compatibility table reads,
``known_deviations`` as strict xfails, and not-applicable items deselected.

A test marked ``not_applicable(reason)`` (the one ``none`` item a suite parametrizes
when the profile's list is empty) is deselected and listed in the summary: neither a
pass nor a silent skip.
"""

from __future__ import annotations

import fnmatch

import pytest

from interopgate import checks
from interopgate.plugin.state import run_state
from interopgate.profile import (
    ContainerTarget,
    LiveTarget,
    ProcessTarget,
    Target,
    available_profiles,
)


def check_of(item: pytest.Item) -> checks.Check | None:
    """The registered check an item implements; a mark naming no check stops the run."""
    marker = item.get_closest_marker("check")
    if marker is None:
        return None
    try:
        return checks.get(marker.args[0])
    except (KeyError, IndexError) as exc:
        raise pytest.UsageError(f"interopgate: {item.nodeid}: {exc}") from None


def target_name(target: Target) -> str:
    """A short name for the target: the column of the compatibility table."""
    if isinstance(target, ProcessTarget):
        return target.server
    if isinstance(target, ContainerTarget):
        return f"container:{target.service}"
    if isinstance(target, LiveTarget):
        return f"live:{target.host}:{target.dicom_port}"
    return target.kind


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_checks(config, items)
    _deselect_not_applicable(config, items)
    state = run_state(config)
    check_items = [(item, check_of(item)) for item in items]
    if any(check for _, check in check_items) and state.loaded is None:
        names = ", ".join(available_profiles(state.profiles_dir)) or "(none found)"
        raise pytest.UsageError(
            "interopgate: no profile given: run e.g. `pytest --profile=agfa-cr` "
            f"(profiles in {state.profiles_dir}: {names})"
        )
    for item, check in check_items:
        if check is None or state.loaded is None:
            continue
        profile = state.loaded.profile
        item.user_properties += [
            ("profile", profile.name),
            ("target", profile.target.kind),
            ("target_name", target_name(profile.target)),
            ("check", check.id),
            ("clause", check.clause),
        ]
        if state.target is not None:  # started in sessionstart, before collection
            item.user_properties.append(("target_address", str(state.target.endpoint)))
        callspec = getattr(item, "callspec", None)
        deviation = profile.deviation_for(check.id, callspec.id if callspec else None)
        if deviation is not None:
            clause = f" [{deviation.clause}]" if deviation.clause else ""
            item.user_properties.append(("known_deviation", deviation.reason))
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"known deviation: {deviation.reason}{clause}", strict=True
                )
            )


def _select_checks(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--check=PATTERN``: keep the tests of the checks the patterns name (deselected,
    like ``-k``, so the summary counts them); a pattern naming no check stops the run."""
    patterns = getattr(config.option, "ig_checks", None) or []
    if not patterns:
        return
    known = [check.id for check in checks.CHECKS.values()]
    for pattern in patterns:
        if not fnmatch.filter(known, pattern):
            raise pytest.UsageError(
                f"interopgate: --check={pattern} names no check (`interopgate checks` lists them)"
            )

    def wanted(item: pytest.Item) -> bool:
        check = check_of(item)
        return check is not None and any(fnmatch.fnmatchcase(check.id, p) for p in patterns)

    dropped = [item for item in items if not wanted(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in gone]


def _deselect_not_applicable(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [item for item in items if item.get_closest_marker("not_applicable")]
    if not dropped:
        return
    run_state(config).not_applicable = [
        f"{item.nodeid.split('::')[-1]}: {item.get_closest_marker('not_applicable').args[0]}"  # type: ignore[union-attr]
        for item in dropped
    ]
    items[:] = [item for item in items if item not in dropped]
    config.hook.pytest_deselected(items=dropped)
