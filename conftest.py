"""Project-local fixtures: generated patients and DICOM objects (fixtures/).

The plugin itself (src/interopgate/plugin/) is registered as a pytest11 entry point;
this file only adds the data factories the suites in this repository use.
"""

from __future__ import annotations

import pytest

from fixtures.patients import make_faker

DEFAULT_SEED = 20240916  # the date of the seed incident's empty worklist


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("interopgate").addoption(
        "--seed",
        dest="ig_seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"Faker seed for generated patients and orders (default {DEFAULT_SEED}); "
        "printed in the header so a failing run can be replayed",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"data seed: --seed={config.option.ig_seed}"


@pytest.fixture(scope="session")
def fake(pytestconfig: pytest.Config):
    """A seeded Faker with the project's providers (fixtures/patients.py)."""
    return make_faker(pytestconfig.option.ig_seed)
