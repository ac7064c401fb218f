"""The console of a conformance run: one line per check (id, verdict, short reason)
instead of pytest's dots, a verdict table by area at the end, and a throttled progress
line for long checks (the sweeps).

Only at pytest's default verbosity: ``-v`` keeps pytest's own per-test lines and ``-q``
its dots. The lines go through the terminal reporter's public ``write``; the progress
line leaves pytest's output capture for a moment (``global_and_fixture_disabled``), as
pytest's own live logging does.
"""

from __future__ import annotations

import time

import pytest

from interopgate.report import VERDICTS, RunReport

PROGRESS_TTY_S = 0.5  # a progress line rewritten in place at most this often
PROGRESS_LOG_S = 30.0  # not a tty (CI logs): at most one full line this often
_LAST = pytest.StashKey[float]()
_PENDING = pytest.StashKey[bool]()  # a tty progress line is on screen, to be replaced

WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "known_deviation": "KNOWN",
    "skipped": "SKIP",
    "not_applicable": "N/A",
}


def wanted(config: pytest.Config) -> bool:
    """Check lines instead of dots: pytest's default verbosity, on the process with a
    terminal (not an xdist worker)."""
    return (
        config.get_verbosity() == 0
        and not hasattr(config, "workerinput")
        and config.pluginmanager.get_plugin("terminalreporter") is not None
    )


@pytest.hookimpl(wrapper=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """A check's dot (or F, s, x) is dropped: its line says more (see :func:`line`)."""
    result = yield
    if result and wanted(config) and dict(report.user_properties).get("check"):
        category, _letter, word = result
        return category, "", word
    return result


def line(check_id: str, nodeid: str, verdict: str, reason: str) -> str:
    """``FAIL  hl7.timestamp.sweep [test_time_sweep_sampled]  08:00-09:59 rejected ...``"""
    test = nodeid.split("::")[-1]
    reason = " ".join(reason.split())
    if len(reason) > 110:
        reason = reason[:108] + "…"
    return f"{WORDS[verdict]:<5} {check_id} [{test}]" + (f"  {reason}" if reason else "")


def write_line(config: pytest.Config, text: str) -> None:
    """One check line, cut to leave room for pytest's progress percentage at its end;
    a newline first unless the line is empty, so pytest's file name and percentage stay
    where pytest puts them (before and after a file's lines)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    writer = getattr(terminal, "_tw", None)  # the TerminalWriter: its width, its column
    width = getattr(writer, "fullwidth", 80) - len(" [100%]") - 1
    if len(text) > width:
        text = text[: width - 1] + "…"
    markup = {"red": True} if text.startswith("FAIL") else {}
    column = getattr(writer, "width_of_current_line", 1)
    start = "\n" if column else ""
    if config.stash.get(_PENDING, False):
        config.stash[_PENDING] = False
        start = "\r\x1b[K"  # the check's line replaces its progress line
    terminal.write(start + text, **markup)


def progress(config: pytest.Config, text: str) -> None:
    """A progress line for a long check, throttled: on a tty rewritten in place every
    half second, in a log (not a tty) one line every 30 s; nothing under xdist workers."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None or hasattr(config, "workerinput"):
        return
    tty = terminal.isatty() if callable(getattr(terminal, "isatty", None)) else False
    now = time.monotonic()
    last = config.stash.get(_LAST, None)
    if last is not None and now - last < (PROGRESS_TTY_S if tty else PROGRESS_LOG_S):
        return
    config.stash[_LAST] = now
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else _nothing():
        if tty:
            start = "\r" if config.stash.get(_PENDING, False) else "\n"
            config.stash[_PENDING] = True
            terminal.write(f"{start}  … {text}\x1b[K", flush=True)
        else:
            terminal.write(f"\n  progress: {text}", flush=True)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def area_table(report: RunReport) -> list[str]:
    """The verdict counts per area as a fixed-width table, with the totals."""
    names = ["area", "pass", "fail", "known dev.", "n/a", "skipped"]
    rows = [
        [area, *(str(counts.get(v, 0)) for v in VERDICTS)]
        for area, counts in report.areas().items()
    ]
    totals = report.totals()
    rows.append(["all", *(str(totals.get(v, 0)) for v in VERDICTS)])
    widths = [max(len(r[i]) for r in [names, *rows]) for i in range(len(names))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    return [fmt(names), *(fmt(r) for r in rows)]
