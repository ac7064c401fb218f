"""Profile loading: valid files load; every bad case stops the run with one clear message
naming the file, the line, the key path and what was expected — never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interopgate.errors import ProfileError
from interopgate.profile import available_profiles, load_profile
from tests.conftest import PROFILES

HERE = Path(__file__).parent / "profiles"
VALID = sorted((HERE / "valid").glob("*.yaml"))
INVALID = sorted((HERE / "invalid").glob("*.yaml"))


def _expected(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(), re.MULTILINE)
    assert match, f"{path} lacks a '# expect: ...' line"
    return match.group(1)


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_profile_loads(path):
    loaded = load_profile(str(path), PROFILES)
    assert loaded.profile.device.ae_title


@pytest.mark.parametrize("name", available_profiles(PROFILES))
def test_shipped_profiles_are_valid(name):
    assert load_profile(name, PROFILES).profile.name == name


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_profile_message(path):
    with pytest.raises(ProfileError) as excinfo:
        load_profile(str(path), PROFILES)
    message = str(excinfo.value)
    assert _expected(path) in message
    assert path.name in message  # the file is named


def test_line_numbers_point_into_the_file():
    with pytest.raises(ProfileError, match=r"unknown-key\.yaml:4: dicom\.propse"):
        load_profile(str(HERE / "invalid" / "unknown-key.yaml"), PROFILES)


def test_extends_merges_mappings_and_replaces_lists():
    profile = load_profile("agfa-cr", PROFILES).profile
    assert profile.device.ae_title == "AGFA_CR1"
    assert profile.dicom.worklist.query["Modality"] == "CR"  # merged key by key
    assert "ScheduledProcedureStepStartDate" in profile.dicom.worklist.query
    assert profile.dicom.worklist.required_return_keys  # inherited
    assert "SCImageStorage" not in profile.dicom.propose  # list replaced, not appended


def test_unknown_name_lists_the_available_profiles():
    with pytest.raises(ProfileError) as excinfo:
        load_profile("agfa-crr", PROFILES)
    assert "did you mean 'agfa-cr'" in str(excinfo.value)
    assert "available profiles: agfa-cr, generic-modality" in str(excinfo.value)


def test_target_override_live_url():
    profile = load_profile("agfa-cr", PROFILES, target="dicom://QRSCP@127.0.0.1:4242").profile
    assert (profile.target.kind, profile.target.called_ae, profile.target.dicom_port) == (
        "live",
        "QRSCP",
        4242,
    )


def test_site_fault_needs_embedded_target():
    with pytest.raises(ProfileError, match="embedded site only"):
        load_profile(
            "agfa-cr", PROFILES, target="dicom://X@127.0.0.1:1", extra_faults=["echo-failure"]
        )


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--profile=does-not-exist"], "unknown profile 'does-not-exist'"),
        ([f"--profile={HERE / 'invalid' / 'unknown-key.yaml'}"], "unknown key 'propse'"),
        (["--profile=agfa-cr", "--site-fault=nope"], "unknown fault 'nope'"),
        (["--profile=agfa-cr", "--target=dicom:oops"], "expected dicom://CALLED_AE@host:port"),
        ([], "no profile given"),
    ],
)
def test_bad_input_stops_the_run_without_traceback(run_suites, args, expected):
    result, _ = run_suites(*args)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != 0
    assert expected in output
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output


def test_target_profile_brings_the_sites_own_mapping():
    """A site decides its HL7→worklist mapping: a target profile's hl7.to_worklist merges
    over the device profile's hl7 section (per family here: SIU only)."""
    profile = load_profile("agfa-cr", PROFILES, target="messagefoundry-wlmscpfs").profile
    assert profile.hl7.to_worklist == {"SIU": {"AccessionNumber": "SCH-2.1"}}
    assert profile.hl7.messages == ["SIU^S12", "SIU^S14", "SIU^S15"]  # the device's


def test_target_profile_cannot_set_what_the_device_decides(tmp_path):
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "site.yaml").write_text(
        "target: {kind: embedded}\nhl7:\n  version: '2.3'\n"
    )
    (tmp_path / "dev.yaml").write_text("device: {ae_title: X}\n")
    with pytest.raises(ProfileError) as excinfo:
        load_profile("dev", tmp_path, target="site")
    message = str(excinfo.value)
    assert "site.yaml:3: hl7.version belongs to the device profile" in message
    assert "pin, to_worklist, worklist_deadline" in message


def test_target_profile_says_what_a_cancel_does(tmp_path):
    """What a cancel does to the worklist item is the site's decision (hl7.cancel)."""
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "site.yaml").write_text(
        "target: {kind: embedded}\nhl7: {cancel: mark, cancel_status: CANCELLED}\n"
    )
    (tmp_path / "dev.yaml").write_text("device: {ae_title: X}\n")
    profile = load_profile("dev", tmp_path, target="site").profile
    assert (profile.hl7.cancel, profile.hl7.cancel_status) == ("mark", "CANCELLED")
    assert load_profile("dev", tmp_path).profile.hl7.cancel == "remove"  # the default
