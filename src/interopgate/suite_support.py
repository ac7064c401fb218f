"""What the conformance suites' conftests use: tests parametrized from the run's
profile, and the target's MLLP address.

A check reads its expectations from the profile, never from the suite: a suite's
conftest names, per fixture, the profile's list to parametrize it with, and the
parameters are named as the profile names them, so a ``known_deviations`` entry can
target ``check.id[ThatName]``. A list that comes out empty is not a pass: the test gets
one ``none`` item marked ``not_applicable``, which the plugin deselects and lists in the
summary (plugin/collection.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from interopgate.plugin.state import run_profile
from interopgate.profile import Profile

# fixture name -> the values a profile gives it
Parameters = Mapping[str, Callable[[Profile], list[Any]]]


def not_applicable(reason: str) -> Any:
    """The one parameter of a check the profile gives nothing to apply to."""
    return pytest.param(None, marks=pytest.mark.not_applicable(reason), id="none")


def parametrize_from_profile(
    metafunc: pytest.Metafunc, parameters: Parameters, what: Mapping[str, str]
) -> None:
    """Parametrize the test's fixtures named in ``parameters`` from the run's profile
    (``what``: how the summary names each list). ``@pytest.mark.<fixture name>(*values)``
    on a test restricts it to those values."""
    profile = run_profile(metafunc.config)
    for name, values_of in parameters.items():
        if name not in metafunc.fixturenames:
            continue
        values = values_of(profile) if profile is not None else []
        only = metafunc.definition.get_closest_marker(name)
        if only is not None:
            values = [v for v in values if v in only.args]
        if not values:
            values = [not_applicable(f"the profile and its target give no {what.get(name, name)}")]
        metafunc.parametrize(name, values, ids=lambda v: str(v))


def mllp_address(target: Any, checks: str) -> tuple[str, int]:
    """The target's MLLP address, or a one-line skip naming the ``checks`` it stops."""
    if target.hl7_address is None:
        pytest.skip(
            "the target has no HL7 (MLLP) address: set hl7_port in the profile's target "
            f"to run the {checks}"
        )
    return target.hl7_address
