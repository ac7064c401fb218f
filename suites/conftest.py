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
from interopgate.dicom.listener import DeviceListener
from interopgate.hl7.mllp import MLLPClient
from interopgate.suite_support import parametrize_from_profile


def _move(name: str) -> bool:
    return uids.resolve(name).keyword.endswith("QueryRetrieveInformationModelMove")


def _storage(name: str) -> bool:
    return uids.is_storage(uids.resolve(name))


# The SOP class of each C-FIND information model a profile can name (PS3.4 C.6, K.6).
FIND_SOP_CLASS = {
    "study": "StudyRootFind",
    "patient": "PatientRootFind",
    "worklist": "ModalityWorklistFind",
}
WORKLIST = "ModalityWorklistFind"


def _unlisted_find_classes(p) -> list[str]:
    """The FIND classes of the profile's information models the target does not provide
    and the device does not propose: checked once each as rejected, so a target that
    accepts one anyway is one finding (dicom.association.context_rejected)."""
    named = {uids.resolve(n) for n in [*p.dicom.propose, *p.dicom.expect_rejected]}
    classes = [FIND_SOP_CLASS[m] for m in p.dicom.find.information_models]
    return [n for n in classes if not p.target_provides(n) and uids.resolve(n) not in named]


# What the target provides (``target.provides``, its conformance statement) decides which
# proposed contexts must be accepted and which rejected (PS3.8 9.3.3.2).
PARAMETERS = {
    "proposed_sop_class": lambda p: [n for n in p.dicom.propose if p.target_provides(n)],
    "rejected_sop_class": lambda p: [
        *(n for n in p.dicom.expect_rejected if not p.target_provides(n)),
        *(n for n in p.dicom.propose if not p.target_provides(n)),
        *_unlisted_find_classes(p),
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
    "robustness: bad input sent to the target (opt in with -m robustness)",
    "information_model(*names): restrict a matching check to these C-FIND models",
    "cancel_mode(*modes): restrict a workflow cancel check to profiles with this hl7.cancel",
]


ROBUSTNESS_SEED = 16  # the robustness suite's default hypothesis seed


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("interopgate").addoption(
        "--robustness-seed",
        dest="ig_robustness_seed",
        type=int,
        default=ROBUSTNESS_SEED,
        help=f"hypothesis seed of the robustness suite's variations (default "
        f"{ROBUSTNESS_SEED}); printed in the header and in every failure to replay a run",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if _opted_in(config, "robustness"):
        return f"robustness seed: --robustness-seed={config.option.ig_robustness_seed}"
    return None


def _opted_in(config: pytest.Config, marker: str) -> bool:
    expression = config.option.markexpr or ""
    return marker in expression and f"not {marker}" not in expression


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)


def _service_of(item: pytest.Item) -> str | None:
    """The SOP class a check exercises as a service: its C-FIND information model, or
    the Modality Worklist for the worklist, sequence matching and workflow checks."""
    callspec = getattr(item, "callspec", None)
    model = callspec.params.get("information_model") if callspec else None
    if model in FIND_SOP_CLASS:
        return FIND_SOP_CLASS[model]
    marker = item.get_closest_marker("check")
    check = str(marker.args[0]) if marker and marker.args else ""
    if check.startswith(("dicom.worklist.", "workflow.")) or check == "dicom.find.sequence":
        return WORKLIST
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A check of a service the target's conformance statement (``target.provides``)
    does not list is not applicable there: marked so the plugin deselects and lists it.
    Whether the target accepts that context anyway is dicom.association.context_rejected's
    one finding. Then the long sweeps."""
    from interopgate.plugin.state import run_profile

    profile = run_profile(config)
    if profile is not None and profile.target.provides is not None:
        for item in items:
            service = _service_of(item)
            if service is not None and not profile.target_provides(service):
                item.add_marker(
                    pytest.mark.not_applicable(
                        f"the target's provides: (its conformance statement) lists no "
                        f"{uids.label(uids.resolve(service))}"
                    )
                )
    _deselect_long_sweeps(config, items)
    _deselect_unless_opted_in(config, items, "robustness")


def _deselect_long_sweeps(config: pytest.Config, items: list[pytest.Item]) -> None:
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


def _deselect_unless_opted_in(config: pytest.Config, items: list[pytest.Item], marker: str):
    """Checks that send bad input to the target run only when asked for (``-m marker``)."""
    if _opted_in(config, marker):
        return
    opt_in = [item for item in items if item.get_closest_marker(marker)]
    if opt_in:
        config.hook.pytest_deselected(items=opt_in)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]


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


# Shared by the dicom suite (retrieve, commitment) and the workflow suite's acquisition
# day: one listener per session on the address the target knows.
@pytest.fixture(scope="session")
def device_listener(profile, target) -> Iterator[DeviceListener]:
    """The device's own SCP at the address the target knows it by (C-MOVE destination,
    Storage Commitment reports on a new association). A target that knows none gets a
    listener that is not started: reports can then only come on the device's own
    association."""
    ae_title = profile.device.ae_title
    classes = [uid for uid in profile.dicom.proposed_uids() if uids.is_storage(uid)]
    if target.move_destination is None:
        yield DeviceListener(ae_title, "127.0.0.1", 0, classes)
        return
    ae_title, host, port = target.move_destination
    with DeviceListener(ae_title, host, port, classes) as listener:
        yield listener
