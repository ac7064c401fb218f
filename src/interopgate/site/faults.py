"""The fault catalogue of the embedded reference site, and the set of faults a site runs.

Every conformance check must be able to fail, or a pass would prove nothing. Each fault
here reproduces a real-world defect in the reference site and names the checks it must
make fail; the self-test ``tests/test_fault_matrix.py`` runs the suites once per fault and
proves that exactly those checks fail. A fault is switched on from a profile
(``target: {kind: embedded, faults: [...]}``), with ``--site-fault NAME`` or with
``interopgate site --fault NAME``.

``layer`` says where the fault lives: ``service`` faults change the pynetdicom SCP's
configuration or handlers; ``wire`` faults rewrite PDUs in a relay in front of it
(site/wire.py), for defects pynetdicom itself would never commit; ``hl7`` faults live
in the site's MLLP interface (site/hl7_ack.py, site/hl7_orders.py).

The site asks a :class:`FaultSet` whether a fault is on, by name; a name that is not in
the catalogue raises :class:`UnknownFault` at once, so a misspelt fault branch fails the
first test that reaches it instead of silently never firing. This module imports
nothing of the project (the profile validates fault names against it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Layer = Literal["service", "wire", "hl7"]


@dataclass(frozen=True)
class Fault:
    name: str
    layer: Layer
    description: str
    breaks: tuple[str, ...]


_FAULTS = [
    Fault(
        "echo-failure",
        "service",
        "C-ECHO is answered with status 0110H (Processing failure) instead of 0000H",
        ("dicom.association.echo",),
    ),
    Fault(
        "reject-cr-storage",
        "service",
        "CR Image Storage is not supported: its presentation context is rejected",
        (
            "dicom.association.context_accepted",
            "dicom.storage.store",
            "dicom.storage.round_trip",
            "dicom.storage.large_instance",
            "dicom.storage.restore",
            "dicom.storage.coercion_announced",
            "dicom.storage.iod_preserved",
            "workflow.day.acquisition",
        ),
    ),
    Fault(
        "accept-all-contexts",
        "service",
        "every abstract syntax is accepted, also those the SCP cannot handle",
        ("dicom.association.context_rejected",),
    ),
    Fault(
        "wrong-reject-reason",
        "wire",
        "unsupported abstract syntaxes are rejected with result 1 (user-rejection) "
        "instead of 3 (abstract-syntax-not-supported)",
        ("dicom.association.context_rejected",),
    ),
    Fault(
        "any-called-ae",
        "service",
        "the SCP accepts associations whatever the called AE title",
        ("dicom.association.called_ae", "dicom.association.ae_title_case"),
    ),
    Fault(
        "case-insensitive-ae",
        "wire",
        "the called AE title is compared without regard to case",
        ("dicom.association.ae_title_case",),
    ),
    Fault(
        "implicit-only",
        "service",
        "only Implicit VR Little Endian is accepted (Explicit VR transfer syntaxes rejected)",
        ("dicom.association.transfer_syntax",),
    ),
    Fault(
        "seven-bit-context-id",
        "wire",
        "presentation context IDs above 127 are answered modulo 128 in the A-ASSOCIATE-AC "
        "(an ID kept in a signed byte)",
        ("dicom.association.context_ids",),
    ),
    Fault(
        "fragmented-dataset-rejected",
        "service",
        "a data set that arrives in more than one P-DATA-TF PDU is refused with A700H "
        "(Out of resources)",
        ("dicom.association.max_pdu", "dicom.storage.large_instance"),
    ),
    # C-FIND matching and worklist faults
    Fault(
        "single-value-prefix",
        "service",
        "single value matching matches every value that begins with the key (an implicit "
        "trailing '*'; so a family name alone also matches FAMILY^Given)",
        ("dicom.find.single_value", "dicom.find.pn_components"),
    ),
    Fault(
        "universal-excludes-absent",
        "service",
        "a zero-length key matches only entities that have the attribute (PS3.4 C.2.2.2.3 "
        "says all entities match)",
        ("dicom.find.universal",),
    ),
    Fault(
        "wildcard-ignored",
        "service",
        "'*' and '?' in a key are compared as ordinary characters",
        ("dicom.find.wildcard",),
    ),
    Fault(
        "range-end-exclusive",
        "service",
        "a range A-B excludes its end value B (PS3.4 C.2.2.2.5 ranges are inclusive)",
        ("dicom.find.range",),
    ),
    Fault(
        "uid-list-first-only",
        "service",
        "a list of UIDs (backslash-separated) is matched on its first UID only",
        ("dicom.find.uid_list",),
    ),
    Fault(
        "sequence-first-key-only",
        "service",
        "sequence matching uses only the first non-empty key of the query's sequence item",
        ("dicom.find.sequence",),
    ),
    Fault(
        "pad-sensitive-matching",
        "service",
        "values are compared with their wire padding: an odd-length value (padded to even "
        "length with a space, PS3.5 6.2) or one stored with trailing spaces never matches",
        ("dicom.find.trailing_space",),
    ),
    Fault(
        "pn-family-name-only",
        "service",
        "person names are compared on the family name component only (the part before '^')",
        ("dicom.find.pn_components",),
    ),
    Fault(
        "case-folding",
        "service",
        "every string key is matched without regard to case (allowed for PN only)",
        ("dicom.find.case_sensitivity",),
    ),
    Fault(
        "return-key-omitted",
        "service",
        "a requested key the entity has no value for is left out of the response instead "
        "of being returned zero-length",
        ("dicom.find.return_keys",),
    ),
    Fault(
        "final-response-with-identifier",
        "service",
        "the final C-FIND response carries status 0000H with an identifier (the last match "
        "again) instead of ending the pending (FF00H) responses without one",
        ("dicom.find.pending_status",),
    ),
    Fault(
        "cancel-ignored",
        "service",
        "a C-CANCEL-FIND-RQ is ignored: the matches keep coming and the stream ends 0000H",
        ("dicom.find.cancel",),
    ),
    Fault(
        "empty-sps-sequence",
        "service",
        "the first worklist item scheduled today is returned with an empty Scheduled "
        "Procedure Step Sequence (0040,0100), as after the seed incident's rejected SIU^S12",
        ("dicom.worklist.sps_sequence", "dicom.worklist.required_keys"),
    ),
    Fault(
        "sps-without-start-time",
        "service",
        "worklist items scheduled today lose Scheduled Procedure Step Start Time "
        "(0040,0003) from their SPS item",
        ("dicom.worklist.required_keys",),
    ),
    Fault(
        "intermittent-empty-sps",
        "service",
        "every 3rd worklist query that returns today's schedule has one item with an empty "
        "Scheduled Procedure Step Sequence (deterministic counter, found with --repeat)",
        ("dicom.worklist.sps_sequence", "dicom.worklist.required_keys"),
    ),
    # HL7 / MLLP faults
    Fault(
        "hl7-octal-hours",
        "hl7",
        "appointment hours are read like C strtol(s, NULL, 0): '08' and '09' are invalid "
        "octal, so every appointment from 08:00 to 09:59 is rejected with AE",
        ("hl7.timestamp.sweep",),
    ),
    Fault(
        "hl7-colon-times-only",
        "hl7",
        "appointment times are accepted only as HH:MM:SS (the vendor's claim in the seed incident): "
        "every valid TS/DTM appointment is rejected with AE, the colon form accepted",
        (
            "hl7.ack.accepted",
            "hl7.timestamp.accepted",
            "hl7.timestamp.rejected",
            "hl7.timestamp.sweep",
            "hl7.resend.same_control_id",
        ),
    ),
    Fault(
        "hl7-wrong-msa-2",
        "hl7",
        "MSA-2 of every ACK carries a control ID of the site's own, not the sender's MSH-10",
        # malformed: the framed message after unframed bytes is not named either
        ("hl7.ack.control_id", "hl7.ack.application", "hl7.ack.malformed"),
    ),
    Fault(
        "hl7-ack-colon-timestamp",
        "hl7",
        "the ACK's own MSH-7 is written YYYYMMDD HH:MM:SS, which no HL7 version allows",
        ("hl7.ack.header",),
    ),
    Fault(
        "hl7-no-ack-on-malformed",
        "hl7",
        "a message without MSH or with bad encoding characters gets no ACK: the site "
        "drops the connection",
        ("hl7.ack.malformed",),
    ),
    Fault(
        "hl7-known-events-rejected",
        "hl7",
        "only SIU^S12 is known: S14 and S15 are answered AR (201, unsupported event code)",
        ("hl7.ack.accepted",),
    ),
    Fault(
        "hl7-accepts-unknown-events",
        "hl7",
        "messages with a trigger event the site does not support are answered AA and dropped",
        ("hl7.ack.unsupported_event",),
    ),
    Fault(
        "hl7-ignores-accept-ack-type",
        "hl7",
        "MSH-15/MSH-16 are ignored: original-mode AA is sent even when the sender asked "
        "for enhanced mode (commit ACK CA, or no ACK for NE)",
        ("hl7.ack.enhanced_mode", "hl7.ack.accept_conditions", "hl7.ack.application"),
    ),
    Fault(
        "hl7-accept-ack-always",
        "hl7",
        "MSH-15 ER and SU are treated as AL: every message gets a commit ACK, also a valid "
        "one under ER and a refused one under SU",
        ("hl7.ack.accept_conditions",),
    ),
    Fault(
        "hl7-commit-reject-as-ar",
        "hl7",
        "in enhanced mode a message refused for its header (MSH-11) gets a commit ACK with "
        "the original-mode code AR instead of CR (table 0008)",
        ("hl7.ack.enhanced_mode", "hl7.ack.accept_conditions"),
    ),
    Fault(
        "hl7-no-application-ack",
        "hl7",
        "MSH-16 is ignored: only the commit ACK is sent, never the application ACK the "
        "sender asked for with MSH-16 AL",
        ("hl7.ack.application",),
    ),
    Fault(
        "hl7-resend-rejected",
        "hl7",
        "a resent message (same MSH-10) is rejected with AE (205, duplicate key identifier) "
        "instead of being acknowledged again",
        ("hl7.resend.same_control_id",),
    ),
    Fault(
        "hl7-redelivers-earlier-messages",
        "hl7",
        "the receive buffer of a connection is never cleared: the n-th message on a "
        "persistent connection hands messages 1..n-1 to the application again and is "
        "answered with n ACKs",
        (
            "hl7.ack.once",
            "hl7.ack.enhanced_mode",
            "hl7.ack.accept_conditions",
            "hl7.ack.application",
            "hl7.timestamp.sweep",
            "hl7.resend.same_control_id",
        ),
    ),
    Fault(
        "hl7-unframed-bytes-processed",
        "hl7",
        "bytes before <VT> that end in <FS> are processed as a message of their own and "
        "acknowledged, besides the framed message that follows (MLLP says: ignore them)",
        ("hl7.ack.malformed",),
    ),
    Fault(
        "hl7-first-byte-unchecked",
        "hl7",
        "the first byte of a frame is dropped without checking that it is <VT>: unframed "
        "bytes lose their first byte and are answered as a message without MSH",
        ("hl7.ack.malformed",),
    ),
    Fault(
        "hl7-msa-2-from-sch",
        "hl7",
        "a message without MSH is refused with an AR whose MSA-2 is the first field of its "
        "first segment (SCH-1, the placer appointment ID), not empty",
        ("hl7.ack.malformed",),
    ),
    Fault(
        "hl7-ignores-msh-2",
        "hl7",
        "MSH-2 is not read: a message with invalid encoding characters is parsed with the "
        "default ^~\\& and answered AA",
        ("hl7.ack.malformed",),
    ),
    Fault(
        "hl7-constant-ack-control-id",
        "hl7",
        "every ACK carries the same MSH-10 ('ACK'), so no two acknowledgments can be told apart",
        ("hl7.ack.unique_control_id", "hl7.ack.application"),
    ),
    Fault(
        "hl7-ack-wrong-version",
        "hl7",
        "every ACK says MSH-12 2.3, whatever the version of the message it acknowledges",
        ("hl7.ack.version",),
    ),
    Fault(
        "hl7-bare-ack-message-type",
        "hl7",
        "the ACK's MSH-9 is a bare 'ACK', without the trigger event and the message "
        "structure ACK that HL7 2.4 and later require",
        ("hl7.ack.message_type",),
    ),
    Fault(
        "hl7-aa-as-commit-ack",
        "hl7",
        "with MSH-15 AL and MSH-16 AL the first ACK is an original-mode AA instead of the "
        "accept (commit) ACK CA; the application ACK AA follows",
        ("hl7.ack.application",),
    ),
    # end-to-end workflow faults
    Fault(
        "hl7-partial-item-on-reject",
        "hl7",
        "a create (SIU^S12 / ORM NW) rejected for a time field still leaves a worklist item: "
        "patient and order filled in, Scheduled Procedure Step Sequence empty (the seed incident; "
        "with hl7-octal-hours every 08:xx/09:xx S12 does it)",
        ("workflow.rejected.no_trace",),
    ),
    Fault(
        "hl7-duplicate-on-resend",
        "hl7",
        "a create resent with the same MSH-10 is applied again: a second worklist item with "
        "the same accession (new step ID and Study Instance UID)",
        ("workflow.resend.no_duplicate",),
    ),
    Fault(
        "hl7-cancel-ignored",
        "hl7",
        "a cancel (SIU^S15 / ORM CA) is answered AA but the worklist item stays",
        ("workflow.cancel.removed",),
    ),
    Fault(
        "hl7-cancel-status-discontinued",
        "hl7",
        "a cancel kept as a marked item (hl7.cancel: mark) is marked DISCONTINUED -- a "
        "Performed Procedure Step Status (PS3.3 C.4.14) -- instead of the profile's marker",
        ("workflow.cancel.marked",),
    ),
    Fault(
        "hl7-omi-study-uid-ignored",
        "hl7",
        "OMI^O23 IPC-3 (Study Instance UID) is ignored: the worklist item gets a Study "
        "Instance UID the site makes up, so images will not match the placer's study",
        ("workflow.create.complete", "workflow.update.applied", "workflow.sweep.complete"),
    ),
    Fault(
        "hl7-update-ignored",
        "hl7",
        "an update (SIU^S14 / ORM XO) is answered AA but the worklist item keeps its old values",
        ("workflow.update.applied",),
    ),
    Fault(
        "hl7-time-utc-shift",
        "hl7",
        "an appointment time with a UTC offset (+ZZZZ) is converted to UTC for the worklist: "
        "the SPS start time is shifted by the offset",
        ("workflow.create.complete",),
    ),
    Fault(
        "hl7-sps-date-from-msh7",
        "hl7",
        "the SPS start date is taken from MSH-7 (when the message was sent) instead of the "
        "appointment's date",
        ("workflow.create.complete", "workflow.update.applied", "workflow.sweep.complete"),
    ),
    # storage / retrieve faults
    Fault(
        "move-unknown-destination-c000",
        "wire",
        "a C-MOVE to an unknown destination AE is answered C000H (Unable to process) instead "
        "of A801H (Refused: Move Destination unknown), as Orthanc 1.10 does",
        ("dicom.retrieve.move_unknown_destination",),
    ),
    Fault(
        "move-wrong-sub-operation-counts",
        "service",
        "C-MOVE and C-GET announce one sub-operation more than they perform (a count taken "
        "before a filter): the final response reports one remaining",
        (
            "dicom.retrieve.sub_operation_counts",
            "dicom.retrieve.get_sub_operation_counts",
            "dicom.retrieve.move_cancel",
        ),
    ),
    Fault(
        "storage-coercion-without-warning",
        "service",
        "a C-STOREd instance is kept with Patient's Name in upper case (as a RIS-fed "
        "reconciliation does) but the store is answered 0000H instead of B000H, and the "
        "change is not one the profile accepts",
        ("dicom.storage.round_trip", "dicom.storage.coercion_announced"),
    ),
    Fault(
        "storage-large-instance-dropped",
        "service",
        "an instance with more than 16 MiB of pixel data is answered 0000H and silently "
        "not kept: it can never be retrieved",
        ("dicom.storage.large_instance",),
    ),
    # Modality Performed Procedure Step SCP faults
    Fault(
        "mpps-type2-empty-refused",
        "service",
        "an MPPS N-CREATE with a zero-length Type 2 attribute (the end date and time, "
        "Referenced Study Sequence, Performed Series Sequence RAD-6 sends empty) is refused "
        "with 0121H (Missing attribute value); every MPPS check starts with such an N-CREATE",
        (
            "dicom.mpps.create_in_progress",
            "dicom.mpps.unscheduled",
            "dicom.mpps.set_completed",
            "dicom.mpps.set_discontinued",
            "dicom.mpps.final_state_locked",
            "workflow.day.acquisition",
        ),
    ),
    Fault(
        "mpps-missing-attribute-accepted",
        "service",
        "an MPPS N-CREATE without a Type 1 attribute of PS3.4 Table F.7.2-1 (a RAD-6 "
        "attribute dropped by the modality) is accepted with 0000H",
        ("dicom.mpps.create_missing_attribute",),
    ),
    Fault(
        "mpps-one-image-per-series",
        "service",
        "an MPPS N-SET whose Performed Series Sequence item references more than one image "
        "is refused with 0106H (a fixed-size slot for one Referenced Image)",
        ("dicom.mpps.set_completed", "workflow.day.acquisition"),
    ),
    Fault(
        "mpps-discontinued-refused",
        "service",
        "an MPPS N-SET to DISCONTINUED is refused with 0106H: the SCP knows only IN "
        "PROGRESS and COMPLETED",
        ("dicom.mpps.set_discontinued",),
    ),
    Fault(
        "mpps-final-state-updatable",
        "service",
        "an MPPS N-SET after COMPLETED is accepted with 0000H and changes the instance "
        "(PS3.4 F.7.2.2: it may no longer be updated)",
        ("dicom.mpps.final_state_locked",),
    ),
    Fault(
        "mpps-unknown-instance-accepted",
        "service",
        "an MPPS N-SET of an instance never created is answered 0000H instead of 0112H",
        ("dicom.mpps.unknown_instance",),
    ),
    Fault(
        "mpps-unscheduled-refused",
        "service",
        "an unscheduled MPPS N-CREATE (a Scheduled Step Attributes Sequence item without "
        "Scheduled Procedure Step ID, no worklist item) is refused with 0106H",
        ("dicom.mpps.unscheduled",),
    ),
    # Storage Commitment SCP faults
    Fault(
        "commitment-not-implemented",
        "service",
        "the Storage Commitment Push Model context is accepted but every N-ACTION is "
        "answered 0123H (No such action): the SCP does not implement the service",
        (
            "dicom.commitment.request",
            "dicom.commitment.report_success",
            "dicom.commitment.report_failures",
            "workflow.day.acquisition",
        ),
    ),
    Fault(
        "commitment-report-never-sent",
        "service",
        "the N-ACTION is answered 0000H but no N-EVENT-REPORT ever follows",
        (
            "dicom.commitment.report_success",
            "dicom.commitment.report_failures",
            "workflow.day.acquisition",
        ),
    ),
    Fault(
        "commitment-report-incomplete",
        "service",
        "the commitment report of a request for several instances leaves the last one out "
        "of the Referenced SOP Sequence (and lists it nowhere)",
        ("dicom.commitment.report_success", "workflow.day.acquisition"),
    ),
    Fault(
        "commitment-success-for-missing",
        "service",
        "an instance the site never received is reported committed (in the Referenced SOP "
        "Sequence) instead of in the Failed SOP Sequence",
        ("dicom.commitment.report_failures",),
    ),
    # Robustness (suites/robustness/, -m robustness): the site under bad input.
    Fault(
        "wire-dies-on-oversize-associate-rq",
        "wire",
        "the site stops listening and drops every connection when an A-ASSOCIATE-RQ is "
        "larger than 32 KB (a fixed read buffer)",
        ("robustness.dicom.survives",),
    ),
    Fault(
        "wire-hangs-on-p-data-before-association",
        "wire",
        "the site stops accepting connections after a P-DATA-TF comes before any association",
        ("robustness.dicom.survives",),
    ),
    Fault(
        "wire-dies-on-oversize-p-data",
        "wire",
        "the site stops listening and drops every connection on a P-DATA-TF larger than "
        "the maximum length it announced in its A-ASSOCIATE-AC",
        ("robustness.dicom.survives",),
    ),
    Fault(
        "wire-accepts-any-protocol-version",
        "wire",
        "an A-ASSOCIATE-RQ is taken whatever its protocol version (bit 0 never tested)",
        ("robustness.dicom.protocol_version",),
    ),
    Fault(
        "hl7-dies-without-msh",
        "hl7",
        "the MLLP listener stops when a frame does not begin with an MSH segment",
        ("robustness.hl7.survives",),
    ),
    # Transport security and access control faults (site/security.py; TLS-mode profile)
    Fault(
        "tls-legacy-versions-accepted",
        "service",
        "the site still negotiates TLS 1.0 and 1.1 (BCP 195 forbids them)",
        ("security.tls.version",),
    ),
    Fault(
        "tls-expired-certificate",
        "service",
        "the site serves a certificate of the right CA and names whose validity has ended",
        ("security.tls.server_certificate",),
    ),
    Fault(
        "tls-wrong-host-certificate",
        "service",
        "the site serves a certificate of the right CA issued for another host",
        ("security.tls.server_certificate",),
    ),
    Fault(
        "tls-untrusted-client-accepted",
        "service",
        "the site lets in a client whose certificate no trusted CA issued",
        ("security.tls.untrusted_client",),
    ),
    Fault(
        "tls-plain-tcp-accepted",
        "service",
        "the site takes plain TCP on its TLS port although TLS is required",
        ("security.tls.plain_tcp_refused",),
    ),
    Fault(
        "access-unknown-calling-ae-accepted",
        "service",
        "the site serves any calling AE title although access control is on",
        ("security.access.unknown_calling_ae",),
    ),
    Fault(
        "access-refusal-names-patient",
        "service",
        "an unknown calling AE gets its association, and its C-FIND is refused 0124H "
        "with the held patient's name in the Error Comment",
        ("security.access.unknown_calling_ae", "security.access.no_patient_data"),
    ),
]

# Faults that show only under load or at the association limit: the load command
# (interopgate/load/) detects them, not the conformance suites; tests/test_load*.py prove
# that each fails exactly its load.* check.
_LOAD_FAULTS = [
    Fault(
        "hl7-order-dropped-under-load",
        "hl7",
        "1 create in 100 (S12, ORC-1 NW: the 1st, 101st, ...) is acknowledged AA/CA and "
        "never reaches the worklist",
        ("load.loss.orders",),
    ),
    Fault(
        "storage-dropped-under-load",
        "service",
        "every 10th C-STORE is answered 0000H and the instance is not kept",
        ("load.loss.instances",),
    ),
    Fault(
        "storage-busy-under-load",
        "service",
        "every 10th C-STORE is refused with A700H (Out of Resources)",
        ("load.errors",),
    ),
    Fault(
        "storage-slow-under-load",
        "service",
        "every C-STORE is answered after 6 s",
        ("load.latency",),
    ),
    Fault(
        "association-limit-hang",
        "service",
        "an association beyond the site's max associations is never answered (no "
        "A-ASSOCIATE-AC or -RJ) instead of being rejected transient, local-limit-exceeded",
        ("load.association.limit",),
    ),
]
_FAULTS += _LOAD_FAULTS
LOAD_FAULTS = frozenset(fault.name for fault in _LOAD_FAULTS)
# Retrieve as the harness's own retrieving SCU, re-store, coercion and IOD faults
_FAULTS += [
    Fault(
        "get-instance-sent-twice",
        "service",
        "C-GET sends the first matching instance twice (two C-STORE sub-operations for one "
        "instance) and counts both",
        ("dicom.retrieve.get_sub_operation_counts",),
    ),
    Fault(
        "move-cancel-ignored",
        "service",
        "a C-CANCEL during a C-MOVE is ignored: every sub-operation is performed and the "
        "final status is 0000H instead of FE00H (Cancel)",
        ("dicom.retrieve.move_cancel",),
    ),
    Fault(
        "move-final-response-missing",
        "service",
        "after the last C-STORE sub-operation of a C-MOVE of several instances no final "
        "response is sent: the mover waits until its DIMSE timeout",
        ("dicom.retrieve.move_final_response", "dicom.retrieve.sub_operation_counts"),
    ),
    Fault(
        "storage-restore-duplicates",
        "service",
        "a second C-STORE of the same SOP Instance UID is kept beside the first: the "
        "instance is then found and retrieved twice",
        ("dicom.storage.restore",),
    ),
    Fault(
        "storage-warning-b006",
        "service",
        "an instance with a private block is answered B006H (Elements discarded, with Error "
        "Comment and Offending Element) and kept without it, a warning the profile does "
        "not allow",
        ("dicom.storage.round_trip",),
    ),
    Fault(
        "storage-instance-dropped",
        "service",
        "a C-STOREd instance whose Specific Character Set names ISO 2022 is answered 0000H "
        "and silently not kept",
        ("dicom.storage.round_trip",),
    ),
    Fault(
        "storage-type1-emptied",
        "service",
        "a stored instance is kept with Modality (Type 1) zero-length: the retrieved object "
        "is no longer a valid instance of its IOD",
        (
            "dicom.storage.round_trip",
            "dicom.storage.coercion_announced",
            "dicom.storage.iod_preserved",
        ),
    ),
]

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _FAULTS}


class UnknownFault(ValueError):
    """A fault name that is not in the catalogue (a typo in a profile, an option or the
    site's own code)."""


def _known(names: Iterable[str]) -> frozenset[str]:
    names = frozenset(names)
    unknown = names - FAULTS.keys()
    if unknown:
        raise UnknownFault(f"unknown site fault(s): {', '.join(sorted(unknown))}")
    return names


class FaultSet:
    """The faults switched on for one site. ``name in faults`` and ``faults.has(name)``
    answer for catalogue names only and raise :class:`UnknownFault` for any other, so
    a fault branch cannot test a name no switch can ever turn on."""

    __slots__ = ("_on",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._on = _known(names)

    def has(self, name: str) -> bool:
        _known((name,))
        return name in self._on

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            raise TypeError(f"a fault is looked up by name, not {type(name).__name__}")
        return self.has(name)

    def any(self, *names: str) -> bool:
        """Whether one of ``names`` is on (each must be a catalogue name)."""
        return any([self.has(name) for name in names])

    def layer(self, layer: Layer) -> FaultSet:
        """The faults of one layer (what the wire relay or the HL7 interface commits)."""
        return FaultSet(name for name in self._on if FAULTS[name].layer == layer)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._on))

    def __len__(self) -> int:
        return len(self._on)

    def __bool__(self) -> bool:
        return bool(self._on)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FaultSet):
            return self._on == other._on
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._on)

    def __repr__(self) -> str:
        return f"FaultSet({sorted(self._on)!r})"
