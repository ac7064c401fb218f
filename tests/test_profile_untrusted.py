"""Profiles are untrusted files: safe YAML, confined ``extends:``, one clear message.

A property-based test mutates a valid profile at random places (fixed seed through
``derandomize``, bounded examples) and requires every result to load or to fail with a
:class:`ProfileError` naming the file -- never another exception. A few malformed
files also go through ``interopgate validate`` and ``pytest --profile``: non-zero exit,
one message, no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interopgate.errors import ProfileError
from interopgate.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
BASE = yaml.safe_load((PROFILES / "agfa-cr.yaml").read_text(encoding="utf-8"))
BASE.pop("extends")
BASE = {**yaml.safe_load((PROFILES / "generic-modality.yaml").read_text()), **BASE}
BASE.pop("extends", None)

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["today", "0110H", "CR", "embedded", "live", "SIU^S12", "x" * 70]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(BASE)
SECTIONS = [(key,) for key in BASE] + [("target",)]  # whole sections, often
# The command-line options that merge into the profile (pytest --target, --site-fault,
# --called-ae, --dicom-port): a malformed profile must fail as clearly with them.
OPTIONS = [
    {},
    {"target": "embedded"},
    {"target": "orthanc"},
    {"target": "dicom://AE@127.0.0.1:104"},
    {"extra_faults": ["mpps-no-response"]},
    {"target_fields": {"called_ae": "OTHER"}},
    {"target_fields": {"dicom_port": 104, "called_ae": "OTHER"}},
]


def _mutate(data: Any, path: tuple, value: Any, mode: str) -> Any:
    if not path:
        return value if mode == "replace" else data
    head, rest = path[0], path[1:]
    data = dict(data) if isinstance(data, dict) else list(data)
    if rest:
        data[head] = _mutate(data[head], rest, value, mode)
    elif mode == "replace":
        data[head] = value
    elif mode == "delete":
        del data[head]
    elif mode == "add" and isinstance(data, dict):
        data[f"{head}_extra"] = value
    return data


def _assert_clear(exc: ProfileError, path: Path) -> None:
    message = str(exc)
    assert str(path) in message or path.name in message, message
    assert "Traceback" not in message and message.strip()


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    where=st.sampled_from(PATHS) | st.sampled_from(SECTIONS),
    value=junk,
    mode=st.sampled_from(["replace", "delete", "add"]),
    options=st.sampled_from(OPTIONS),
)
def test_a_malformed_profile_gives_one_clear_message(tmp_path_factory, where, value, mode, options):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzzed.yaml"
    data = _mutate(BASE, where, value, mode)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_profile(str(path), PROFILES, **options)
    except ProfileError as exc:
        if not options:  # an option's own error names the option instead
            _assert_clear(exc, path)
        assert str(exc).strip() and "Traceback" not in str(exc)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab:- \n[]{}&*!|>'\"#%@`\t,?")), max_size=60))
def test_yaml_noise_gives_one_clear_message(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("noise") / "noise.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_profile(str(path), PROFILES)
    except ProfileError as exc:
        _assert_clear(exc, path)


@pytest.mark.parametrize("options", OPTIONS[1:], ids=str)
@pytest.mark.parametrize("body", ["target: [1]\n", "target: 5\n", "target: {faults: 3}\n"])
def test_command_line_options_over_a_malformed_target(tmp_path, body, options):
    path = tmp_path / "target.yaml"
    path.write_text(body, encoding="utf-8")
    try:
        load_profile(str(path), PROFILES, **options)
    except ProfileError as exc:
        assert "Traceback" not in str(exc) and str(exc).strip()


def test_python_tags_are_refused_not_run(tmp_path):
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "ran"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="YAML syntax error"):
        load_profile(str(path), PROFILES)
    assert not marker.exists()


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(["dicom:", *("  " + line for line in lines)]) + "\n")
    with pytest.raises(ProfileError, match="aliases"):
        load_profile(str(path), PROFILES)


def test_a_relative_extends_cannot_leave_the_folders(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: outside\n")
    folder = tmp_path / "vendor" / "profiles"
    folder.mkdir(parents=True)
    path = folder / "child.yaml"
    path.write_text("extends: ../../outside.yaml\n")
    with pytest.raises(ProfileError) as raised:
        load_profile(str(path), PROFILES)
    message = str(raised.value)
    assert f"{path}:1: extends:" in message
    assert "leads outside the profile's folder" in message
    assert len(message.splitlines()) == 1
    # the same file by its absolute path is the user's own choice
    path.write_text(f"extends: {outside}\ndevice: {{ae_title: CHILD}}\n")
    assert load_profile(str(path), PROFILES).profile.device.ae_title == "CHILD"


def test_a_relative_extends_into_the_profiles_folder_is_allowed(tmp_path):
    loaded = load_profile(str(ROOT / "tests/profiles/valid/extends-by-path.yaml"), PROFILES)
    assert loaded.chain[0].name == "generic-modality.yaml"


MALFORMED = {
    "escape.yaml": "extends: ../../../../../../etc/passwd\n",
    "wrong-type.yaml": "device:\n  ae_title: [1, 2]\n",
    "noise.yaml": "device: {ae_title: X\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_profiles_on_the_command_line(tmp_path, name):
    path = tmp_path / name
    path.write_text(MALFORMED[name], encoding="utf-8")
    runs = [
        [sys.executable, "-m", "interopgate.cli", "validate", str(path)],
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "suites" / "dicom" / "test_association.py"),
            f"--rootdir={ROOT}",
            f"--profile={path}",
            f"--report-dir={tmp_path / 'reports'}",
            "-p",
            "no:cacheprovider",
        ],
    ]
    for command in runs:
        process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        output = process.stdout + process.stderr
        assert process.returncode != 0, output
        assert "Traceback" not in output and "INTERNALERROR" not in output, output
        assert name in output, output
