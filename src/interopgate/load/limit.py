"""The target's association limit: the declared number of concurrent associations, and
one beyond.

A site sized for N modalities says so (``load.max_associations``); at N+1 it must answer
-- ideally A-ASSOCIATE-RJ result 2 (rejected-transient), source 3 (service-provider,
presentation), reason 2 (local-limit-exceeded), PS3.8 9.3.4 Table 9-21, which tells the
modality to try again later -- and never leave the request unanswered, which holds a
modality until its own ARTIM / ACSE timer (PS3.8 9.1.2) runs out. The N are held open
while the extra one is asked; each proposes Verification only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

from interopgate.device import DeviceClient
from interopgate.dicom.association import Endpoint
from interopgate.profile import Profile

VERIFICATION = "1.2.840.10008.1.1"
LOCAL_LIMIT = (2, 3, 2)  # result, source, reason: PS3.8 Table 9-21


@dataclasses.dataclass
class LimitOutcome:
    limit: int
    opened: int  # of the limit, established
    refused_within: str  # "" or what refused one of the first ``limit``
    extra: str  # what the association beyond the limit got
    extra_seconds: float
    hung: bool
    timeout: float

    @property
    def passed(self) -> bool:
        return not self.refused_within and not self.hung


def check(profile: Profile, endpoint: Endpoint, transcript) -> LimitOutcome | None:
    load = profile.load
    if load.max_associations is None:
        return None
    timeout = load.association_timeout
    # pynetdicom waits connect_timeout for TCP, then ACSE (connect_timeout + 5) for the answer.
    bounded = dataclasses.replace(endpoint, connect_timeout=max(0.5, timeout - 5))
    device = DeviceClient(profile, bounded, transcript)
    refused = ""
    opened = 0
    with contextlib.ExitStack() as held:
        for n in range(1, load.max_associations + 1):
            _, negotiation = held.enter_context(device.associate([VERIFICATION]))
            if not negotiation.established:
                refused = f"association {n} of {load.max_associations}: {negotiation.outcome()}"
                break
            opened += 1
        if refused:
            return LimitOutcome(load.max_associations, opened, refused, "", 0.0, False, timeout)
        started = time.monotonic()
        with device.associate([VERIFICATION]) as (_, negotiation):
            seconds = time.monotonic() - started
            rejection = negotiation.rejection
            if negotiation.established:
                extra = "accepted (A-ASSOCIATE-AC): the target takes more than it declares"
            elif rejection is not None:
                clean = (rejection.result, rejection.source, rejection.reason) == LOCAL_LIMIT
                extra = str(rejection) + (" as PS3.8 9.3.4 describes" if clean else "")
            else:
                extra = negotiation.outcome()
            hung = not negotiation.established and rejection is None and seconds >= timeout - 0.5
    return LimitOutcome(load.max_associations, opened, "", extra, seconds, hung, timeout)
