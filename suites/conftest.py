"""Parametrization of the suites from the profile: one test per SOP class, syntax, ...

A check reads its expectations from the profile, not from the suite: this file names
the profile's lists each parametrized fixture takes (interopgate/suite_support.py turns
them into pytest parameters named as the profile names them), the suites' markers, the
deselection of long sweeps, and the HL7 fixtures the hl7 and workflow suites share.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.hl7_messages import HL7MessageFactory
from interopgate.dicom import uids
from interopgate.hl7.mllp import MLLPClient
from interopgate.suite_support import parametrize_from_profile


def _move(name: str) -> bool:
    return uids.resolve(name).keyword.endswith("QueryRetrieveInformationModelMove")


def _storage(name: str) -> bool:
    return uids.is_storage(uids.resolve(name))


# What the target provides (``target.provides``, its conformance statement) decides which
# proposed contexts must be accepted and which rejected with result 3 (PS3.8 9.3.3.2).
PARAMETERS = {
    "proposed_sop_class": lambda p: [n for n in p.dicom.propose if p.target_provides(n)],
    "rejected_sop_class": lambda p: [
        *(n for n in p.dicom.expect_rejected if not p.target_provides(n)),
        *(n for n in p.dicom.propose if not p.target_provides(n)),
    ],
    "transfer_syntax": lambda p: p.dicom.transfer_syntaxes,
    "storage_sop_class": lambda p: [
        n for n in p.dicom.propose if _storage(n) and p.target_provides(n)
    ],
    "move_sop_class": lambda p: [n for n in p.dicom.propose if _move(n) and p.target_provides(n)],
    "information_model": lambda p: p.dicom.find.information_models,
}

WHAT = {
    "proposed_sop_class": "SOP class proposed and provided",
    "rejected_sop_class": "SOP class expected rejected",
    "transfer_syntax": "transfer syntax",
    "storage_sop_class": "storage SOP class proposed and provided",
    "move_sop_class": "C-MOVE SOP class proposed and provided (dicom.propose)",
    "information_model": "C-FIND information model (dicom.find.information_models)",
}


MARKERS = [
    "sweep: long sweeps (opt in with -m sweep)",
    "information_model(*names): restrict a matching check to these C-FIND models",
    "cancel_mode(*modes): restrict a workflow cancel check to profiles with this hl7.cancel",
]


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long sweeps (``@pytest.mark.sweep``) run only when asked for (``-m sweep``); the
    sampled ones run by default. Deselected, not skipped, so a default run's report has
    no placeholder for them."""
    expression = config.option.markexpr or ""
    if "sweep" in expression and "not sweep" not in expression:
        return
    long_sweeps = [item for item in items if item.get_closest_marker("sweep")]
    if long_sweeps:
        config.hook.pytest_deselected(items=long_sweeps)
        items[:] = [item for item in items if not item.get_closest_marker("sweep")]


# HL7 fixtures shared by suites/hl7 and suites/workflow; each folder's conftest defines
# `hl7_address` through suite_support.mllp_address (with what its checks need besides).


@pytest.fixture
def hl7_client(profile, hl7_address, transcript) -> Iterator[MLLPClient]:
    """An MLLP client as the profile's sender connects: persistent or one per message."""
    host, port = hl7_address
    transcript.note(f"HL7 {profile.hl7.version} over MLLP to {host}:{port}")
    with MLLPClient.for_settings(hl7_address, profile.hl7, note=transcript.note) as client:
        yield client


@pytest.fixture
def hl7_factory(profile, fake) -> HL7MessageFactory:
    """Messages in the profile's HL7 version, for the profile's device."""
    return HL7MessageFactory(
        fake,
        profile.hl7.version,
        station_ae=profile.device.ae_title,
        modality=profile.device.modality,
        charset=profile.hl7.encoding,
        pinned=profile.hl7.pin,
    )
