"""Parametrization of the suites from the profile: one test per SOP class, syntax, ...

A check reads its expectations from the profile (DESIGN.md "Our own rules"); this file
turns the lists in the profile into pytest parameters, named as the profile names them
so a ``known_deviations`` entry can target ``check.id[ThatName]``.
"""

from __future__ import annotations

import pytest

from interopgate.dicom import uids
from interopgate.plugin import parametrize_from_profile


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)
