"""Errors meant for people: one sentence saying what went wrong and where.

The pytest plugin and the CLI turn these into a one-paragraph message and a non-zero
exit, never a traceback: a person reads these, not a developer.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InteropGateError(Exception):
    """Base class of every error the harness reports to a user."""


class ProfileError(InteropGateError):
    """A profile (or target profile) file is missing, malformed or invalid."""


class TargetError(InteropGateError):
    """The system under test cannot be started or reached."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class TargetUnavailable(InteropGateError):
    """The target cannot run on this machine (no Docker engine, package not installed):
    the checks are skipped with this one-line reason, never failed and never faked."""
