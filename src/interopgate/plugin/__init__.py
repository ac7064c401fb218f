"""The pytest plugin (entry point ``pytest11: interopgate``), one module per job.

A thin adapter over the engine: it loads the profile (profile.py), starts the target
(targets/), hands suites their fixtures, turns ``known_deviations`` into strict xfails,
puts profile/target/check/clause on every JUnit testcase, and writes reports/ by default
(junit.xml, report.html, evidence/). Bad input stops the run with one sentence
(errors.py) and no traceback.

- ``state``: the run's state in ``config.stash`` and the accessors other code reads it by
- ``options``: command-line options and ini keys
- ``lifecycle``: configure (markers, profile), start the target, stop it
- ``collection``: check markers, JUnit properties, known deviations, not-applicable items
- ``reporting``: header, report paths, evidence on failure, summary, pytest-html
- ``results``: the conformance report's data (report/) from the check reports
- ``console``: one line per check, the verdict table by area, progress lines
- ``fixtures``: ``profile``, ``target``, ``device``, ``check``, ``transcript``, ...
- ``emulation``: ``--role=scp``: the emulated site instead of a target, suites/device
"""

from __future__ import annotations

from interopgate.plugin.state import STATE, RunState, run_profile, run_state

# pytest registers these with the entry point (PytestPluginManager.consider_module).
pytest_plugins = [
    "interopgate.plugin.options",
    "interopgate.plugin.lifecycle",
    "interopgate.plugin.collection",
    "interopgate.plugin.reporting",
    "interopgate.plugin.console",
    "interopgate.plugin.fixtures",
    "interopgate.plugin.emulation",
]

__all__ = ["STATE", "RunState", "run_profile", "run_state"]
