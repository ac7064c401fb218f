"""The fault catalogue as the site uses it: a misspelt fault name fails here, in
milliseconds, not only in the fault matrix (tests/test_fault_matrix.py)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from interopgate.site import faults as catalogue
from interopgate.site.faults import FAULTS, FaultSet, UnknownFault
from interopgate.site.pacs import SiteConfig

SITE = Path(catalogue.__file__).parent
# Lower-case words joined by '-': the shape of every fault name.
FAULT_SHAPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
NOT_FAULTS = {"wire-relay"}  # the relay thread's name (site/wire.py)
LAYER_MODULES = {
    "service": {"pacs.py", "find.py", "mpps.py", "commitment.py", "security.py"},
    "wire": {"wire.py"},
    "hl7": {"hl7_ack.py", "hl7_orders.py", "hl7_listener.py"},
}


def test_a_typo_fails_at_once():
    faults = FaultSet({"hl7-octal-hours"})
    assert "hl7-octal-hours" in faults and faults.has("hl7-octal-hours")
    assert "echo-failure" not in faults
    for lookup in (
        lambda: "hl7-octal-hour" in faults,
        lambda: faults.has("hl7-octl-hours"),
        lambda: faults.any("echo-failure", "echo-failur"),
        lambda: FaultSet({"hl7-octal-hour"}),
    ):
        with pytest.raises(UnknownFault, match="unknown site fault"):
            lookup()


def test_site_config_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown site fault\(s\): echo-failur"):
        SiteConfig(faults=frozenset({"echo-failur"}))
    assert SiteConfig(faults=frozenset({"echo-failure"})).faults == {"echo-failure"}


def test_layers():
    faults = FaultSet({"echo-failure", "wrong-reject-reason", "hl7-octal-hours"})
    assert list(faults.layer("wire")) == ["wrong-reject-reason"]
    assert faults.layer("hl7") == FaultSet({"hl7-octal-hours"})
    assert not FaultSet().layer("service")
    assert not faults.layer("hl7").has("echo-failure")  # a known name of another layer


def _literals(path: Path) -> set[str]:
    """Every string constant of a module except docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    }


def _fault_names_in(path: Path) -> set[str]:
    return {text for text in _literals(path) if FAULT_SHAPE.fullmatch(text)} - NOT_FAULTS


def test_every_fault_name_in_the_site_code_is_in_the_catalogue():
    """A branch that tests a name no switch turns on would never fire."""
    sources = sorted(p for p in SITE.glob("*.py") if p.name != "faults.py")
    assert {p.name for p in sources} >= set().union(*LAYER_MODULES.values())
    for path in sources:
        unknown = _fault_names_in(path) - set(FAULTS)
        assert not unknown, f"{path.name} tests fault names not in site/faults.py: {unknown}"


def test_every_catalogue_fault_is_looked_up_where_its_layer_lives():
    """A catalogue entry no code looks up would make the fault matrix fail late."""
    for layer, modules in LAYER_MODULES.items():
        named = set().union(*(_fault_names_in(SITE / module) for module in modules))
        wanted = {name for name, fault in FAULTS.items() if fault.layer == layer}
        assert wanted <= named, f"{layer} faults no site module looks up: {wanted - named}"


def test_the_scan_sees_a_typo(tmp_path):
    """The scan above really catches a misspelt name in a lookup."""
    source = tmp_path / "module.py"
    source.write_text(
        '"""doc-string-is-skipped"""\n'
        'def f(faults):\n    return "hl7-octal-hour" in faults or faults.has("echo-failure")\n'
    )
    assert _fault_names_in(source) - set(FAULTS) == {"hl7-octal-hour"}


def test_the_catalogue_imports_nothing_of_the_project():
    """The profile validates fault names against it, so it must sit below everything."""
    code = "import sys, interopgate.site.faults; print(sorted(m for m in sys.modules if m.startswith('interopgate.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['interopgate.site', 'interopgate.site.faults']"
