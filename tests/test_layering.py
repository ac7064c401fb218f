"""The package's imports point one way: the layers of pyproject's ``[tool.importlinter]``.

A lower layer that imports a higher one (the site importing the plugin, the profile
importing a target) or two modules of one package importing each other is the kind of
change that makes every later addition touch many files; import-linter (on grimp, which
counts imports inside functions too) finds it in a second, long before a run would.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import interopgate

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(interopgate.__file__).parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_imports_follow_the_layers_and_form_no_circle() -> None:
    result = _lint(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract can fail: the fault catalogue (core) importing the plugin is caught,
    also from inside a function."""
    shutil.copytree(
        PACKAGE, tmp_path / "src" / "interopgate", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    faults = tmp_path / "src" / "interopgate" / "site" / "faults.py"
    faults.write_text(
        faults.read_text()
        + "\n\ndef _upward() -> None:\n    from interopgate import plugin  # noqa\n"
    )
    result = _lint(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "interopgate.site.faults -> interopgate.plugin" in result.stdout


# Imported before forking, so each child pays only for the project's own modules: an
# import circle among those still shows, since none of them is loaded yet.
_PRELOAD = (
    "import pydicom, pynetdicom, hl7apy.core, hl7apy.v2_5, pydantic, yaml, faker, pytest, "
    "jinja2, dpkt, hypothesis, trustme"
)
_EACH_ALONE = """
import os, sys
{preload}
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
        except BaseException as exc:
            print(f"{{name}}: {{type(exc).__name__}}: {{exc}}", flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone() -> None:
    """``python -c "import interopgate.targets.dcmtk"`` (or any other module) works in a
    fresh interpreter: no module relies on another having been imported first."""
    names = [
        module.name
        for module in pkgutil.walk_packages([str(PACKAGE)], prefix="interopgate.")
        if ".sites." not in module.name  # a third-party engine's channel code, run by it
    ]
    assert len(names) > 40, names
    result = subprocess.run(
        [sys.executable, "-c", _EACH_ALONE.format(preload=_PRELOAD), *names],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_import_of_the_project_names_a_module_that_exists() -> None:
    """An import inside a function runs only when that path is taken: a module moved
    without updating it would fail deep in a run (and grimp ignores it), so resolve every
    ``interopgate.*`` import here."""
    import ast
    import importlib.util

    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "interopgate" and importlib.util.find_spec(name) is None:
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
    assert not missing, missing
