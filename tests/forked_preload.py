"""What the forkserver of tests/forked_pytest.py imports before it forks a suite run.

Everything a conformance-suite run imports and keeps unchanged: pytest and its plugins
(pytest-html with Jinja2, pytest-metadata, xdist, Faker's and Hypothesis's pytest
plugins), the libraries, the harness's plugin, site and protocol modules, and the
project's fixtures/. A fork then starts with them loaded (~0.4 s of CPU a run saved).
Nothing here may start a thread, open a socket, read the clock into module state or
monkey-patch (Locust's gevent): the harness's load package is not imported.
"""

from __future__ import annotations

import contextlib
import importlib

LIBRARIES = [
    "pytest",
    "_pytest.pytester",
    "_pytest.junitxml",
    "_pytest.unraisableexception",
    "_pytest.threadexception",
    "_pytest.faulthandler",
    "_pytest._argcomplete",
    "_pytest.helpconfig",
    "_pytest.pastebin",
    "_pytest.setuponly",
    "_pytest.setupplan",
    "_pytest.skipping",
    "_pytest.unittest",
    "_pytest.warnings",
    "faulthandler",
    "readline",
    "encodings.unicode_escape",
    "pluggy",
    "pydicom",
    "pynetdicom",
    "hl7apy.core",
    "hl7apy.v2_5",
    "faker",
    "faker.contrib.pytest.plugin",
    "hypothesis",
    "_hypothesis_pytestplugin",
    "pydantic",
    "yaml",
    "jinja2",
    "pytest_html.plugin",
    "pytest_html.hooks",
    "pytest_metadata.plugin",
    "pytest_metadata.hooks",
    "pytest_locust.plugin",  # Locust's pytest plugin: it imports Locust (gevent) lazily
    "pytest_timeout",
    "xdist",
    "xdist.plugin",
    "xdist.looponfail",
    "xdist.newhooks",
    "execnet",
    "dpkt",
    "trustme",
    "tomllib",
    "pdb",
    "statistics",
    "xml.etree.ElementTree",
]
HARNESS = [
    "interopgate.plugin",
    "interopgate.plugin.collection",
    "interopgate.plugin.console",
    "interopgate.plugin.emulation",
    "interopgate.plugin.fixtures",
    "interopgate.plugin.lifecycle",
    "interopgate.plugin.options",
    "interopgate.plugin.reporting",
    "interopgate.plugin.results",
    "interopgate.report.html",
    "interopgate.targets.embedded",
    "interopgate.targets.launch",
    "interopgate.targets.live",
    "interopgate.site.pacs",
    "interopgate.site.hl7_listener",
    "interopgate.suite_support",
    "interopgate.robustness",
    "interopgate.commitment",
    "interopgate.dicom.cancel",
    "interopgate.dicom.iod",
    "interopgate.dicom.listener",
    "interopgate.matching_cases",
    "interopgate.mpps",
    "interopgate.retrieve",
    "interopgate.storage",
    "interopgate.sweep",
    "interopgate.workflow",
    "fixtures.dicom_objects",
    "fixtures.hl7_messages",
    "fixtures.patients",
    "fixtures.query_data",
    "fixtures.worklist",
]

for _name in LIBRARIES + HARNESS:
    importlib.import_module(_name)

# Faker loads its locale's providers when the first generator is made.
from faker import Faker  # noqa: E402

Faker("en_US")

# pytest-html compiles its Jinja2 page template in every run (~70 ms of CPU, a tenth of a
# short suite run). The template is a file of the installed package, the same in every
# run: compile it once here and hand every run that object (rendering does not change it).
import functools  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest_html.plugin  # noqa: E402
from pytest_html.util import _read_template  # noqa: E402


@functools.cache
def _template(search_paths: tuple, template_name: str):
    return _read_template(list(search_paths), template_name)


def _cached_template(search_paths, template_name="index.jinja2"):
    return _template(tuple(search_paths), template_name)


pytest_html.plugin._read_template = _cached_template
_cached_template([Path(pytest_html.plugin.__file__).parent / "resources"])

# pytest marks the modules of every installed pytest plugin for assertion rewriting by
# reading each plugin distribution's file list (RECORD: ~2,000 paths, ~20 ms a run). The
# installed distributions do not change while the self-tests run: ask pytest's own
# method once, here, and give every run the names it found.
from _pytest.config import Config  # noqa: E402


class _Names:
    def __init__(self) -> None:
        self.rewrite_hook = None
        self.names: list[str] = []

    @property
    def pluginmanager(self):
        return self

    def mark_rewrite(self, *names: str) -> None:
        self.names.extend(names)


_recorded = _Names()
Config._mark_plugins_for_rewrite(_recorded, _recorded, disable_autoload=False)  # type: ignore[arg-type]
_REWRITE_NAMES = tuple(_recorded.names)


def _mark_plugins_for_rewrite(self, hook, disable_autoload: bool) -> None:
    self.pluginmanager.rewrite_hook = hook
    if not disable_autoload:
        for name in _REWRITE_NAMES:
            hook.mark_rewrite(name)


Config._mark_plugins_for_rewrite = _mark_plugins_for_rewrite  # type: ignore[method-assign]

# The HL7 factory checks each message shape once per process with a group-finding hl7apy
# parse (~15 ms each, fixtures/hl7_messages.py): check the shapes a default build makes,
# in the versions the profiles use, once here. Faker seeded: no run's data depends on it.
from fixtures.hl7_messages import HL7MessageFactory  # noqa: E402
from fixtures.patients import make_faker  # noqa: E402
from interopgate.hl7.messages import STRUCTURES  # noqa: E402

for _version in ("2.3.1", "2.5", "2.5.1"):
    _factory = HL7MessageFactory(make_faker(0), _version)
    for _type in STRUCTURES:
        # a type the factory does not build in this version, or not alone: left out
        with contextlib.suppress(ValueError, KeyError):
            _factory.build(_type)
