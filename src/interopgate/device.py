"""The device as the harness plays it: its AE title, its transfer syntaxes, its max PDU.

Suites ask this object for associations instead of building pynetdicom AEs themselves,
so every association a check opens carries the profile's identity and is recorded in
the check's transcript.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence

from pynetdicom import Association

from interopgate.dicom.association import Endpoint, Negotiation, open_association
from interopgate.evidence import Transcript
from interopgate.profile import Profile


class DeviceClient:
    def __init__(self, profile: Profile, endpoint: Endpoint, transcript: Transcript) -> None:
        self.profile = profile
        target = profile.target
        # The profile's bounds on every wait and read of an association (PS3.8 9.1.1).
        self.endpoint = dataclasses.replace(
            endpoint,
            acse_timeout=target.acse_timeout,
            network_timeout=target.network_timeout,
            max_pdu_read=target.max_pdu_read,
        )
        self.transcript = transcript

    @property
    def ae_title(self) -> str:
        return self.profile.device.ae_title

    @contextlib.contextmanager
    def associate(
        self,
        contexts: Sequence[str | tuple[str, Sequence[str]]],
        *,
        called_ae: str | None = None,
        max_pdu: int | None = None,
        scp_roles: Sequence[str] = (),
        handlers: Sequence[tuple] = (),
    ) -> Iterator[tuple[Association, Negotiation]]:
        """Propose ``contexts``: SOP class UIDs (with the profile's transfer syntaxes) or
        ``(uid, [transfer syntaxes])`` pairs; ``scp_roles`` and ``handlers`` as
        :func:`~interopgate.dicom.association.open_association` takes them (C-GET)."""
        syntaxes = self.profile.dicom.transfer_syntax_uids()
        pairs = [(c, syntaxes) if isinstance(c, str) else c for c in contexts]
        with open_association(
            self.endpoint,
            self.ae_title,
            pairs,
            called_ae=called_ae,
            max_pdu=self.profile.dicom.max_pdu if max_pdu is None else max_pdu,
            transcript=self.transcript,
            scp_roles=scp_roles,
            handlers=handlers,
        ) as result:
            yield result
