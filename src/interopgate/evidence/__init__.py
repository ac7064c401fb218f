"""Wire evidence of a check: what a vendor is shown next to a verdict.

- ``transcript``: the PDUs, DIMSE messages and HL7 frames a check exchanged, as text
- ``capture``: the same exchanges as TCP connections (pynetdicom's data events, the MLLP
  client's tap)
- ``pcap``: those connections as Ethernet/IPv4/TCP frames in a pcapng file Wireshark opens
"""

from __future__ import annotations

from interopgate.evidence.capture import Capture
from interopgate.evidence.transcript import Transcript, evidence_name

__all__ = ["Capture", "Transcript", "evidence_name"]
