"""Run pytest in a fresh process forked from one that has already imported its libraries.

The self-tests run the conformance suites a few hundred times, each in a process of its
own (a run must not share pynetdicom's, the plugin's or the site's state with another).
Starting Python and importing pytest, pydicom, pynetdicom, hl7apy, Faker and hypothesis
costs ~1 s of CPU per run. The standard library's forkserver (multiprocessing) imports
them once per xdist worker (tests/forked_preload.py) and forks a clean child for every
run: the child has the libraries but nothing of any earlier run. pytest marks the
harness's plugin package for assertion rewriting and warns that it was imported before;
the harness's own modules hold no test asserts, so the warning is silenced.

:func:`run` mirrors ``Pytester.runpytest_subprocess``: same arguments, cwd, environment
and ``PYTHONPATH``, output into files, a :class:`pytest.RunResult` back.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import sys
import time
from pathlib import Path

import pytest

PRELOAD = ["tests.forked_preload"]  # the libraries, the plugin, the site: see that module

REWRITE_WARNING = "pytest.PytestAssertRewriteWarning"

ROOT = Path(__file__).resolve().parents[1]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


def _child(cwd: str, args: list[str], environ: dict[str, str], out: str, err: str) -> None:
    """In the forked process: the caller's cwd and environment, output to files, pytest."""
    # What the preload imported lives as long as the process: out of the collector's sight,
    # so that the run's collections (pytest makes five at its end) do not walk it again.
    gc.freeze()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    sys.path.insert(0, cwd)
    sys.argv = ["pytest", *args]
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    code = 1
    try:
        code = int(pytest.main(args))
    finally:
        # What an interpreter does at exit (the harness stops leftover targets in an
        # atexit handler), then leave without waiting for threads a run left behind.
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@functools.cache
def _start_forkserver() -> None:
    """Start the forkserver, once per process, from the repository's root: Python 3.11's forkserver
    does not take over the caller's ``sys.path``, so ``tests.forked_preload`` is found
    through its working directory, and pytester has by now moved ours to a temporary
    one. A preload module that cannot be imported is skipped without a word. Once: the
    working directory is the whole process's, and other threads of the worker run on."""
    with contextlib.chdir(ROOT):
        multiprocessing.forkserver.ensure_running()


def run(pytester: pytest.Pytester, *args: str, timeout: float) -> pytest.RunResult:
    """``pytester.runpytest_subprocess(*args, timeout=timeout)``, forked."""
    base = pytester.path
    numbered = sum(1 for p in base.glob("runpytest-*"))
    basetemp = base / f"runpytest-{numbered}"
    basetemp.mkdir(mode=0o700)
    out, err = base / f"forked-{numbered}.out", base / f"forked-{numbered}.err"
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(base), environ.get("PYTHONPATH")]))
    # Preloaded plugins are not assertion-rewritten; pytest says so once per plugin.
    argv = [f"--basetemp={basetemp}", "-W", f"ignore::{REWRITE_WARNING}", *map(str, args)]
    started = time.monotonic()
    _start_forkserver()
    process = _CONTEXT.Process(
        target=_child, args=(str(base), argv, environ, str(out), str(err)), daemon=False
    )
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        process.join()
        pytest.fail(f"pytest {' '.join(argv)} did not end within {timeout:.0f} s")
    return pytest.RunResult(
        process.exitcode,
        _lines(out),
        _lines(err),
        time.monotonic() - started,
    )


def _lines(path: Path) -> list[str]:
    if not path.exists():  # the child died before it redirected its output
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()
