"""The load suite (``interopgate load``): the profile's modalities and order placers at
once, on Locust (an existing load engine with a master/worker mode across machines).

Modules: :mod:`.plan` (what every simulated system needs, and the ledger of what the
target acknowledged), :mod:`.users` (the Locust ``User`` classes; imports locust, so
gevent's monkey-patching, and is only ever imported in the load process), :mod:`.verify`
(after the run: nothing lost), :mod:`.limit` (the association limit and one beyond),
:mod:`.verdict` (thresholds → one JUnit testcase each), :mod:`.run` (local, master or
worker). Nothing here is imported by the pytest plugin: locust patches socket and
threading for the whole process, so it runs in its own (``python -m interopgate.load``).
"""

import os as _os
import sys as _sys

# The load process patches before anything else (__main__). Anywhere else (an import
# check, a documentation build) ssl may already be loaded, and gevent patching it late
# recurses: there the modules are imported without the patching, as Locust allows.
if "ssl" in _sys.modules and "gevent.monkey" not in _sys.modules:
    _os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
