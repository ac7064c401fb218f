"""The registry of conformance checks: id → standard clause and one-line title.

A check is a plain pytest test marked ``@pytest.mark.check("<id>")``; this registry is
what lets a profile name a check (``known_deviations``) and what puts the clause into
every report. An id used by a suite or a profile that is not listed here is an error,
so a typo can never silently disable a deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

from interopgate.errors import did_you_mean


@dataclass(frozen=True)
class Check:
    id: str
    clause: str
    title: str


_CHECKS = [
    Check(
        "dicom.association.echo",
        "PS3.4 A.4 (Verification SOP Class), PS3.7 9.3.5",
        "C-ECHO over an association returns status Success (0000H)",
    ),
    Check(
        "dicom.association.context_accepted",
        "PS3.8 9.3.3.2 (Presentation Context Item, A-ASSOCIATE-AC)",
        "each presentation context the device proposes is accepted with an allowed transfer syntax",
    ),
    Check(
        "dicom.association.context_rejected",
        "PS3.8 9.3.3.2, result 3 (abstract-syntax-not-supported)",
        "each presentation context the profile expects rejected is rejected with result 3",
    ),
    Check(
        "dicom.association.transfer_syntax",
        "PS3.5 10.1 (Implicit VR Little Endian default), PS3.8 9.3.3.2",
        "each transfer syntax the device uses is accepted on its own",
    ),
    Check(
        "dicom.association.called_ae",
        "PS3.8 9.3.4 (A-ASSOCIATE-RJ, reason 7: called-AE-title-not-recognized)",
        "an unknown called AE title is rejected with result 1, source 1, reason 7",
    ),
    Check(
        "dicom.association.ae_title_case",
        "PS3.5 6.2 (AE value representation), PS3.8 9.3.2",
        "AE titles are case-sensitive: the called AE in another case is not recognised",
    ),
    Check(
        "dicom.association.context_ids",
        "PS3.8 9.3.2.2 / 9.3.3.2 (presentation-context-ID, odd 1-255)",
        "the A-ASSOCIATE-AC answers every proposed odd context ID exactly once",
    ),
    Check(
        "dicom.association.max_pdu",
        "PS3.8 9.3.1, D.1 (Maximum Length Sub-Item), PS3.8 9.3.5 (P-DATA-TF)",
        "a data set larger than the peer's maximum PDU arrives fragmented and is stored",
    ),
    Check(
        "dicom.storage.store",
        "PS3.4 B.2.3 (C-STORE status), PS3.7 9.1.1",
        "a generated instance of each proposed storage SOP class is stored with status 0000H",
    ),
    #
    # ---- C-FIND matching and worklist completeness checks (issue 4): add below ----
    #
    #
    #
    # ---- HL7 v2 / MLLP checks (issue 5): add below ----
    #
    #
    #
    # ---- end-to-end workflow checks (issue 6): add below ----
    #
    #
    #
    # ---- storage / retrieve checks: add below ----
    #
    Check(
        "dicom.retrieve.move_unknown_destination",
        "PS3.4 C.4.2.1.5, Table C.4-2 (C-MOVE status A801: Refused: Move Destination unknown)",
        "a C-MOVE to a destination AE the target does not know is refused with status A801H",
    ),
]

CHECKS: dict[str, Check] = {check.id: check for check in _CHECKS}


def get(check_id: str) -> Check:
    """Return the registered check, or raise KeyError with the closest known ids."""
    try:
        return CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}{did_you_mean(check_id, CHECKS)}") from None
