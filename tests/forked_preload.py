"""What the forkserver of tests/forked_pytest.py imports before it forks a suite run.

Everything a conformance-suite run imports and keeps unchanged: pytest and its plugins
(pytest-html with Jinja2, pytest-metadata, xdist, Faker's and Hypothesis's pytest
plugins), the libraries, the harness's plugin, site and protocol modules, and the
project's fixtures/. A fork then starts with them loaded (~0.4 s of CPU a run saved).
Nothing here may start a thread, open a socket, read the clock into module state or
monkey-patch (Locust's gevent): the harness's load package is not imported.
"""

from __future__ import annotations

import importlib

LIBRARIES = [
    "pytest",
    "_pytest.pytester",
    "_pytest.junitxml",
    "_pytest.unraisableexception",
    "_pytest.threadexception",
    "_pytest.faulthandler",
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
    "pytest_metadata.plugin",
    "pytest_timeout",
    "xdist",
    "xdist.plugin",
    "xdist.looponfail",
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
