"""The forkserver preload of tests/forked_pytest.py: Python skips a preload module that
fails to import without a word, and every suite run would then start from nothing
(correct, but several times slower). So it must import cleanly on its own."""

from __future__ import annotations

import subprocess
import sys

from tests.forked_pytest import PRELOAD, ROOT


def test_the_forkserver_preload_imports_cleanly():
    result = subprocess.run(
        [sys.executable, "-c", f"import {', '.join(PRELOAD)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
