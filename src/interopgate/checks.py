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
        "PS3.8 9.3.3.2, 7.1.1.14 (presentation context rejected: result 1, 2 or 3)",
        "each presentation context the target does not support (expected rejected, or "
        "missing from its provides:) is rejected, with the result its profile requires",
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
    # C-FIND matching and worklist completeness checks
    Check(
        "dicom.find.single_value",
        "PS3.4 C.2.2.2.1 (Single Value Matching)",
        "a key with one value matches exactly the entities with that whole value",
    ),
    Check(
        "dicom.find.universal",
        "PS3.4 C.2.2.2.3 (Universal Matching)",
        "a zero-length key (or '*') matches every entity, also those without the attribute",
    ),
    Check(
        "dicom.find.wildcard",
        "PS3.4 C.2.2.2.4 (Wild Card Matching)",
        "'*' matches any run of characters and '?' exactly one",
    ),
    Check(
        "dicom.find.range",
        "PS3.4 C.2.2.2.5 (Range Matching)",
        "date and time ranges A-B, -B and A- match inclusively at both ends",
    ),
    Check(
        "dicom.find.uid_list",
        "PS3.4 C.2.2.2.2 (List of UID Matching)",
        "a backslash-separated list of UIDs matches the entities with any of them",
    ),
    Check(
        "dicom.find.sequence",
        "PS3.4 C.2.2.2.6 (Sequence Matching)",
        "an item matches when one stored sequence item matches all keys of the query's item",
    ),
    Check(
        "dicom.find.trailing_space",
        "PS3.5 6.2 (padding; leading/trailing spaces not significant), PS3.4 C.2.2.2.1",
        "odd-length values (padded on the wire) and trailing spaces in key or stored value "
        "do not change what matches",
    ),
    Check(
        "dicom.find.pn_components",
        "PS3.4 C.2.2.2.1, PS3.5 6.2.1 (Person Name components)",
        "a PN key with '^' components matches the whole name, not a component of it",
    ),
    Check(
        "dicom.find.case_sensitivity",
        "PS3.4 C.2.2.2.1 (case-sensitive except PN where the SCP may fold case)",
        "non-PN string keys match case-sensitively; PN as the profile says the target claims",
    ),
    Check(
        "dicom.find.return_keys",
        "PS3.4 C.2.2.1.2 (Return Keys), C.4.1.1.3.2, K.6.1.1.3",
        "every requested key is returned (zero-length when unknown), unrequested keys are not",
    ),
    Check(
        "dicom.find.pending_status",
        "PS3.4 C.4.1.2.3, PS3.7 9.1.2.1.6 / C.4.1.1.3 (C-FIND-RSP status)",
        "one pending response (FF00H/FF01H) with an identifier per match, then 0000H without one",
    ),
    Check(
        "dicom.find.cancel",
        "PS3.7 9.3.2.3 (C-CANCEL-FIND-RQ), PS3.4 C.4.1.2.3 (status FE00H)",
        "a C-CANCEL mid-query stops the matches and ends the stream with FE00H",
    ),
    Check(
        "dicom.worklist.sps_sequence",
        "IHE RAD TF-2 4.5.4 (RAD-5 Query Modality Worklist), PS3.4 K.6.1.2.2",
        "every worklist item carries a Scheduled Procedure Step Sequence (0040,0100) with an item",
    ),
    Check(
        "dicom.worklist.required_keys",
        "IHE RAD TF-2 4.5.4.1.2.2 (RAD-5 return keys), PS3.4 K.6.1.2.2",
        "every worklist item returns the keys RAD-5 and the profile require, with a value",
    ),
    #
    # HL7 v2 / MLLP checks
    Check(
        "hl7.ack.accepted",
        "HL7 2.5 §2.9.2 (original mode ACK), §3.4.2.1 MSA-1; MLLP Release 1 (Appendix C)",
        "each message type of the profile gets one well-framed ACK with MSA-1 AA (or CA)",
    ),
    Check(
        "hl7.ack.control_id",
        "HL7 2.5 §2.9.2, §3.4.2.2 (MSA-2 = MSH-10 of the acknowledged message)",
        "the ACK's MSA-2 is the sent message's MSH-10",
    ),
    Check(
        "hl7.ack.header",
        "HL7 2.5 §2.9.2 (ACK MSH-5/6 = MSH-3/4), §2.14.9.7 MSH-7, §2.A.22 (DTM)",
        "the ACK's MSH-5/6 mirror the message's MSH-3/4; its MSH-9 is ACK; its MSH-7 parses",
    ),
    Check(
        "hl7.ack.message_type",
        "HL7 2.5 §2.14.9.9 (MSH-9), §2.A.46 (MSG), table 0354 (message structure ACK)",
        "the ACK's MSH-9 is ACK^<trigger acknowledged>^ACK from HL7 2.4 on (the trigger may "
        "be left out); ACK or ACK^<trigger> before",
    ),
    Check(
        "hl7.ack.unique_control_id",
        "HL7 2.5 §2.14.9.10 (MSH-10: uniquely identifies the message)",
        "ACKs to messages sent back to back carry distinct, non-empty MSH-10s",
    ),
    Check(
        "hl7.ack.version",
        "HL7 2.5 §2.14.9.12 (MSH-12), §2.9.2",
        "the ACK's MSH-12 is the version of the message it acknowledges",
    ),
    Check(
        "hl7.ack.once",
        "HL7 2.5 §2.9.2 (one acknowledgment per message; §2.9.3: one accept and one "
        "application ACK in enhanced mode), §3.4.2.2 MSA-2",
        "messages sent over one connection get one ACK each: none is acknowledged again with "
        "a later message",
    ),
    Check(
        "hl7.ack.malformed",
        "HL7 2.5 §2.9.2 (AR/AE), §2.5.4 (MSH first), §2.14.9.2 (MSH-2), §3.4.2.2 (MSA-2); "
        "MLLP Appendix C.4",
        "a malformed message gets an AE/AR, not silence or a dropped connection (without MSH: "
        "MSA-2 empty); unframed bytes before a frame are ignored: one ACK, for the framed "
        "message",
    ),
    Check(
        "hl7.ack.unsupported_event",
        "HL7 2.5 §2.9.2 (AR), table 0357 code 201 (unsupported event code)",
        "a trigger event the receiver does not support is answered AR, not AA",
    ),
    Check(
        "hl7.ack.enhanced_mode",
        "HL7 2.5 §2.9.3 (enhanced acknowledgment mode), §2.14.9.15 MSH-15, tables 0155 "
        "and 0008 (CA/CE/CR)",
        "MSH-15 AL gets a commit ACK: CA for a valid message, CR/CE (never AA/AE/AR) for one "
        "with an unacceptable MSH-11; MSH-15 NE gets no ACK (where the profile says enhanced "
        "mode is supported)",
    ),
    Check(
        "hl7.ack.accept_conditions",
        "HL7 2.5 §2.9.3 (enhanced acknowledgment mode), §2.14.9.15 MSH-15, table 0155 "
        "(ER: error/reject conditions only; SU: successful completion only), table 0008",
        "MSH-15 ER: no ACK for a valid message, CE/CR for an unacceptable one; MSH-15 SU: CA "
        "for a valid message, no ACK for an unacceptable one",
    ),
    Check(
        "hl7.ack.application",
        "HL7 2.5 §2.9.3 (enhanced mode: the application acknowledgment is a separate "
        "message), §2.14.9.16 MSH-16, tables 0155 and 0008 (AA/AE/AR), §3.4.2.2 MSA-2",
        "MSH-15/16 AL: the first reply is an accept ACK (CA/CE/CR), then an application ACK "
        "as a message of its own (MSA-1 AA/AE/AR, MSA-2 = the MSH-10 sent); MSH-16 NE: none",
    ),
    Check(
        "hl7.timestamp.accepted",
        "HL7 2.5 §2.A.74 (TS), §2.A.22 (DTM): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]",
        "each timestamp form the profile lists is accepted (AA) in every time field",
    ),
    Check(
        "hl7.timestamp.rejected",
        "HL7 2.5 §2.A.74 (TS), §2.A.22 (DTM), §2.9.2 (AE for content errors)",
        "each timestamp form the profile says is invalid is rejected with AE/AR",
    ),
    Check(
        "hl7.timestamp.sweep",
        "HL7 2.5 §2.A.22 (DTM: HH 00-23, MM 00-59), §2.9.2",
        "the same appointment at every minute of a day (sampled by default) is accepted, "
        "each message acknowledged once",
    ),
    Check(
        "hl7.resend.same_control_id",
        "HL7 2.5 §2.10.2 (retries reuse MSH-10), §2.9.2",
        "a message resent with the same MSH-10 is acknowledged AA again, once",
    ),
    #
    # End-to-end workflow checks
    Check(
        "workflow.create.complete",
        "IHE RAD TF-2 4.4 (RAD-4 Procedure Scheduled), 4.5.4 (RAD-5), SWF HL7-DICOM mapping "
        "tables; HL7 2.5 §10.6.2 (SIU^S12), §4.4 (ORM^O01 NW, OMI^O23 NW with IPC)",
        "an accepted create appears once in the worklist, complete, every mapped value equal "
        "and the SPS start date/time equal to the sent appointment",
    ),
    Check(
        "workflow.update.applied",
        "IHE RAD TF-2 4.4 (RAD-4 Procedure Updated), 4.5.4; HL7 2.5 §10.6.4 (SIU^S14), "
        "§4.5.1 ORC-1 XO",
        "an accepted update (S14 / ORM XO) changes the worklist item, still one item",
    ),
    Check(
        "workflow.cancel.removed",
        "IHE RAD TF-2 4.4 (RAD-4 order cancel), 4.5.4; HL7 2.5 §10.6.5 (SIU^S15), §4.5.1 ORC-1 CA",
        "an accepted cancel (S15 / ORM CA) removes the worklist item (hl7.cancel: remove)",
    ),
    Check(
        "workflow.cancel.marked",
        "IHE RAD TF-2 4.4 (RAD-4 order cancel), 4.5.4; PS3.3 C.4.10 Scheduled Procedure Step "
        "Status (0040,0020); HL7 2.5 §10.6.5 (SIU^S15), §4.5.1 ORC-1 CA",
        "an accepted cancel keeps the one worklist item with Scheduled Procedure Step Status "
        "(0040,0020) set to the profile's marker (hl7.cancel: mark)",
    ),
    Check(
        "workflow.rejected.no_trace",
        "HL7 2.5 §2.9.2 (AE/AR: the message was not applied), §2.10.2; IHE RAD TF-2 4.5.4, "
        "PS3.4 K.6.1.2.2 (one SPS per worklist item)",
        "a create answered AE/AR leaves no worklist item; its accepted resend yields exactly "
        "one complete item",
    ),
    Check(
        "workflow.resend.no_duplicate",
        "HL7 2.5 §2.10.2 (a resend reuses MSH-10 and is applied once); IHE RAD TF-2 4.4",
        "a create resent with the same MSH-10 yields one worklist item, not two",
    ),
    Check(
        "workflow.sweep.complete",
        "IHE RAD TF-2 4.4 (RAD-4), 4.5.4 (RAD-5), PS3.4 K.6.1.2.2; HL7 2.5 §2.A.22 (DTM), §2.9.2",
        "across a day of appointment times, every accepted create appears complete at its "
        "time and every rejected one leaves no trace",
    ),
    #
    # Storage / retrieve checks
    Check(
        "dicom.retrieve.move_unknown_destination",
        "PS3.4 C.4.2.1.5, Table C.4-2 (C-MOVE status A801: Refused: Move Destination unknown)",
        "a C-MOVE to a destination AE the target does not know is refused with status A801H",
    ),
    Check(
        "dicom.retrieve.sub_operation_counts",
        "PS3.4 C.4.2.1.6-C.4.2.1.9 (Number of Remaining, Completed, Failed and Warning "
        "Sub-operations), C.4.2.3 (C-MOVE SCP behavior)",
        "a C-MOVE's pending counts add up to the study's instances, and the final 0000H has "
        "none remaining and completed = the instances the destination received, each once",
    ),
    Check(
        "dicom.storage.round_trip",
        "PS3.4 B.2.3 (C-STORE status; B000H when elements are coerced), B.4.1 (the SCP keeps "
        "every Type 1/2/3 and private element), C.4.2.2 (C-MOVE)",
        "an instance of each proposed storage class (worklist keys, private block, UTF-8 and "
        "ISO 2022 names) is stored with an allowed status and retrieved back unchanged but "
        "for the profile's accepted coercions",
    ),
    Check(
        "dicom.storage.large_instance",
        "PS3.8 9.3.5 (P-DATA-TF fragmentation), PS3.4 B.2.3, C.4.2.2",
        "an instance of tens of MB is stored and retrieved back with identical Pixel Data",
    ),
    #
    # Modality Performed Procedure Step (the modality as MPPS SCU, the target as SCP)
    Check(
        "dicom.mpps.create_in_progress",
        "PS3.4 F.7.2.1 (N-CREATE), Table F.7.2-1; IHE RAD TF-2 4.6.4.1 (RAD-6 Modality "
        "Procedure Step In Progress)",
        "an N-CREATE IN PROGRESS with the RAD-6 attributes and the SPS it performs is "
        "answered 0000H for the SOP Instance UID the modality chose",
    ),
    Check(
        "dicom.mpps.create_missing_attribute",
        "PS3.4 F.7.2.1, Table F.7.2-1 (Type 1 for the SCP); PS3.7 10.1.5 (N-CREATE), Annex C "
        "(0120H Missing Attribute, 0121H Missing Attribute Value)",
        "an N-CREATE without a Type 1 attribute is refused with a status the profile allows",
    ),
    Check(
        "dicom.mpps.set_completed",
        "PS3.4 F.7.2.2 (N-SET), Table F.7.2-1 (final state); IHE RAD TF-2 4.7.4.1 (RAD-7 "
        "Modality Procedure Step Completed)",
        "an N-SET COMPLETED with end date/time, the performed series and their Referenced "
        "Image Sequence is answered 0000H",
    ),
    Check(
        "dicom.mpps.set_discontinued",
        "PS3.4 F.7.2.2, PS3.3 C.4.14 (Performed Procedure Step Discontinuation Reason Code "
        "Sequence); IHE RAD TF-2 4.7.4.1 (RAD-7, DISCONTINUED)",
        "an N-SET DISCONTINUED with a discontinuation reason code is answered 0000H",
    ),
    Check(
        "dicom.mpps.final_state_locked",
        "PS3.4 F.7.2.2 (a COMPLETED or DISCONTINUED step may no longer be updated: 0110H)",
        "an N-SET of an instance already COMPLETED is refused with a status the profile allows",
    ),
    Check(
        "dicom.mpps.unknown_instance",
        "PS3.4 F.7.2.2, PS3.7 10.1.3 (N-SET), Annex C (0112H No Such SOP Instance)",
        "an N-SET of an MPPS instance never created is refused with 0112H",
    ),
    Check(
        "dicom.mpps.unscheduled",
        "IHE RAD TF-2 4.6.4.1.2 (RAD-6 unscheduled case: Scheduled Step Attributes Sequence "
        "without worklist keys), PS3.4 F.7.2.1",
        "an unscheduled N-CREATE (no worklist item) is answered 0000H where the profile "
        "says the target takes unscheduled steps",
    ),
    #
    # Storage Commitment (the modality before it deletes its copy)
    Check(
        "dicom.commitment.request",
        "PS3.4 J.3.2 (N-ACTION Request Storage Commitment), Table J.3-1; IHE RAD TF-2 4.10 "
        "(RAD-10 Storage Commitment)",
        "an N-ACTION (Action Type ID 1) for stored instances is answered 0000H",
    ),
    Check(
        "dicom.commitment.report_success",
        "PS3.4 J.3.3 (N-EVENT-REPORT), J.3.3.1.2 (same or new association, SCP role "
        "selection), Table J.3-2; IHE RAD TF-2 4.10",
        "the N-EVENT-REPORT comes within the profile's timeout, where the profile says, "
        "Event Type ID 1 with the Transaction UID and every instance in the Referenced SOP "
        "Sequence",
    ),
    Check(
        "dicom.commitment.report_failures",
        "PS3.4 J.3.3.1.1 (Event Type ID 2, Failed SOP Sequence, Failure Reason), Table J.3-2",
        "an instance the target never received is reported in the Failed SOP Sequence with "
        "a Failure Reason the profile allows; the stored ones as committed",
    ),
    #
    # The device as the system under test (interopgate emulate, pytest --role=scp): what
    # the device sent to the emulated site, judged from the recording (emulate/evaluate.py)
    Check(
        "device.association.contexts",
        "PS3.8 9.3.2.2 (Presentation Context Item, A-ASSOCIATE-RQ); the device's "
        "conformance statement (profile dicom.propose)",
        "every presentation context the device proposes is one its profile declares",
    ),
    Check(
        "device.association.transfer_syntaxes",
        "PS3.8 9.3.2.2.2 (Transfer Syntax Sub-Item), PS3.5 10",
        "every proposed context offers only transfer syntaxes the profile claims",
    ),
    Check(
        "device.association.ae_title",
        "PS3.8 9.3.2 (Calling / Called AE Title), PS3.5 6.2 (AE)",
        "the device calls as its profile's AE title and calls the emulated site's",
    ),
    Check(
        "device.association.max_pdu",
        "PS3.8 D.1 (Maximum Length Sub-Item), 9.3.5 (P-DATA-TF)",
        "the device announces the profile's maximum PDU and sends no P-DATA-TF longer than "
        "the site's",
    ),
    Check(
        "device.association.rejected_context",
        "PS3.8 9.3.3.2 (a rejected context may not be used), 7.1.1.13; PS3.7 9.1.1",
        "no DIMSE message is sent on a presentation context the site rejected",
    ),
    Check(
        "device.mwl.matching_keys",
        "PS3.4 K.6.1.2.2 (Matching Keys), C.2.2.2; IHE RAD TF-2 4.5.4.1.2.1 (RAD-5)",
        "the worklist query's keys with a value are exactly the profile's worklist.query",
    ),
    Check(
        "device.mwl.return_keys",
        "PS3.4 K.6.1.2.2 (Return Keys), C.2.2.1.2; IHE RAD TF-2 4.5.4.1.2.2 (RAD-5 return keys)",
        "the worklist query asks every return key of the profile's required_return_keys",
    ),
    Check(
        "device.mwl.encoding",
        "PS3.5 6.1.2.3 (Specific Character Set), 6.2 (even value length, padding), 7.5 "
        "(sequence items); PS3.4 C.2.2.2.6 (one item in a sequence key)",
        "the query identifier is encoded as the standard says: Specific Character Set for "
        "non-ASCII values, even lengths, one item in each sequence key",
    ),
    Check(
        "device.mwl.cancel",
        "PS3.7 9.3.2.3 (C-CANCEL-FIND-RQ: Message ID Being Responded To), PS3.4 C.4.1.3.1",
        "a C-CANCEL the device sends names the C-FIND it is cancelling",
    ),
    Check(
        "device.mwl.query_loop",
        "PS3.4 K.4.1.3 (one C-FIND per worklist query), IHE RAD TF-2 4.5.4.1 (RAD-5 "
        "query on demand or on a schedule)",
        "the device does not repeat the same worklist query in a loop (three within the "
        "profile's emulate.min_query_interval)",
    ),
    Check(
        "device.mwl.query_schedule",
        "IHE RAD TF-2 4.5.4.1 (RAD-5: the modality queries on demand or periodically); "
        "the device's configured polling interval (profile emulate.query_interval)",
        "served the hard worklist, the device keeps polling: no gap between queries longer "
        "than 1.5 polling intervals",
    ),
    Check(
        "device.behaviour.release",
        "PS3.8 7.2 (A-RELEASE), 7.3 (A-ABORT is for errors); PS3.7 9.3.2.3 (C-CANCEL)",
        "served the hard worklist (empty SPS, non-ASCII, 200 responses), the device releases "
        "each association it opened rather than aborting or dropping it",
    ),
    Check(
        "device.mpps.create_in_progress",
        "PS3.4 F.7.2.1 (N-CREATE), Table F.7.2-1; IHE RAD TF-2 4.6.4.1.2 (RAD-6, Table "
        "4.6-1: Scheduled Step Attributes Sequence)",
        "the N-CREATE is IN PROGRESS with the RAD-6 attributes and names a served "
        "scheduled step (Study Instance UID, Accession Number, Requested Procedure ID, SPS ID)",
    ),
    Check(
        "device.mpps.set_final",
        "PS3.4 F.7.2.2 (N-SET), Table F.7.2-1; IHE RAD TF-2 4.7.4.1.2 (RAD-7)",
        "each N-SET that ends a step (COMPLETED / DISCONTINUED) names a created instance and "
        "carries End Date/Time and the Performed Series Sequence (COMPLETED)",
    ),
    Check(
        "device.storage.iod",
        "PS3.3 (the IOD of the SOP class, checked by dciodvfy); PS3.4 B.2.3",
        "every image the device stores is a valid instance of its IOD",
    ),
    Check(
        "device.storage.worklist_attributes",
        "IHE RAD TF-2 4.8.4.1.3 (RAD-8, Table 4.8-2/4.8-3: attributes from the worklist); "
        "PS3.3 C.7.3.1 (Request Attributes Sequence)",
        "each stored image carries its served item's Patient ID and Name, Accession Number, "
        "Study Instance UID, and Requested Procedure ID and SPS ID in the Request Attributes "
        "Sequence",
    ),
    Check(
        "device.commitment.request",
        "PS3.4 J.3.2 (N-ACTION, Table J.3-1); IHE RAD TF-2 4.10.4.1 (RAD-10)",
        "each Storage Commitment request (Action Type ID 1) has a Transaction UID and names "
        "only instances the device stored, with their SOP classes",
    ),
    Check(
        "device.commitment.report_accepted",
        "PS3.4 J.3.3 (N-EVENT-REPORT), J.3.3.1.2 (same or new association, SCP role); IHE "
        "RAD TF-2 4.10.4.2 (RAD-10 storage commitment result)",
        "the device answers the site's N-EVENT-REPORT with 0000H, on the association its "
        "profile says (emulate.commitment_report)",
    ),
    # Robustness: the target under bad input (opt in: -m robustness, suites/robustness/)
    Check(
        "robustness.dicom.survives",
        "PS3.8 9.3.1, Annex A (Table A-2: an unrecognised or invalid PDU, Evt19, or a "
        "P-DATA-TF before association, Evt10, ends that connection with AA-1 / AA-8)",
        "after each malformed A-ASSOCIATE-RQ, unknown PDU, early or bad P-DATA-TF the "
        "target still answers a C-ECHO and a known-good C-FIND",
    ),
    Check(
        "robustness.dicom.protocol_version",
        "PS3.8 9.3.2 (Protocol-version: the receiver tests bit 0), 9.3.4 (A-ASSOCIATE-RJ "
        "source 2, reason 2: protocol-version-not-supported)",
        "an A-ASSOCIATE-RQ whose protocol version lacks bit 0 is never accepted",
    ),
    Check(
        "robustness.hl7.survives",
        "HL7 2.5 §2.9 (message processing rules), Appendix C.4 (MLLP release 1 framing)",
        "after each frame without MSH, with wrong encoding characters, of binary garbage, "
        "of 10 MB or without <FS> a valid SIU^S12 still gets MSA-1 AA",
    ),
]

# The load command's checks (interopgate/load/, `interopgate load`): judged from a bounded
# run of the profile's modalities and order placers, not by the pytest suites.
_CHECKS += [
    Check(
        "load.loss.orders",
        "HL7 2.5 §2.9.2 (an AA/CA ACK: the receiver has taken the message), IHE RAD TF-2 "
        "RAD-4/RAD-5 (the order is scheduled on the worklist), PS3.4 K.6",
        "under load, every acknowledged order is in the Modality Worklist exactly once",
    ),
    Check(
        "load.loss.instances",
        "PS3.4 B.2.3 (C-STORE status 0000H: the instance is stored), C.4.1 (C-FIND IMAGE level)",
        "under load, every instance stored with success is found again by C-FIND",
    ),
    Check(
        "load.latency",
        "the profile's load limits (p95_ms, p99_ms) per operation",
        "under load, each operation's 95th and 99th percentile latency is within the limits",
    ),
    Check(
        "load.errors",
        "the profile's load limit max_error_rate per operation; PS3.7 C (status classes)",
        "under load, each operation's share of failures is within the limit",
    ),
    Check(
        "load.association.limit",
        "PS3.8 9.3.4 (A-ASSOCIATE-RJ: result 2 rejected-transient, source 3, reason 2 "
        "local-limit-exceeded), PS3.8 9.1.2 (ARTIM)",
        "the declared number of concurrent associations is accepted, and one beyond is "
        "answered (refused cleanly, or accepted) within the timeout, never left hanging",
    ),
    # Transport security and access control (suites/security/)
    Check(
        "security.tls.version",
        "PS3.15 B.9 (BCP 195 TLS Secure Transport Connection Profile), BCP 195 "
        "(RFC 9325 3.1.1: TLS 1.2 or later, never TLS 1.0/1.1)",
        "the negotiated TLS version is 1.2 or later and a client offering only TLS 1.0/1.1 "
        "is refused",
    ),
    Check(
        "security.tls.server_certificate",
        "PS3.15 B.1 (peer authentication by X.509 certificate), RFC 5280 6.1, RFC 6125 6",
        "the target's certificate chains to the profile's CA, is within its validity and "
        "names the target's host",
    ),
    Check(
        "security.tls.untrusted_client",
        "PS3.15 B.1, IHE ITI TF-2 3.19.6 (ATNA Authenticate Node: both sides authenticated)",
        "a client whose certificate no trusted CA issued is refused",
    ),
    Check(
        "security.tls.plain_tcp_refused",
        "PS3.15 B.9, IHE ITI TF-2 3.19.6.1 (a secure node refuses unauthenticated connections)",
        "where the profile says TLS is required, a plain TCP A-ASSOCIATE-RQ or MLLP frame "
        "gets no answer of the service",
    ),
    Check(
        "security.access.unknown_calling_ae",
        "PS3.8 9.3.4 (A-ASSOCIATE-RJ, source 1, reason 3: calling-AE-title-not-recognized)",
        "an association from a calling AE title the target does not know is rejected with "
        "source 1 (service-user), reason 3",
    ),
    Check(
        "security.access.no_patient_data",
        "PS3.7 C.4 (Error Comment (0000,0902)), IHE ITI TF-1 9 (ATNA: patient data only "
        "to authorized nodes)",
        "a peer the target does not know gets no patient's name in an Error Comment",
    ),
]

# Retrieve (the harness as retrieving SCU), re-store, coercion and IOD checks, and the
# acquisition day as one workflow
_CHECKS += [
    Check(
        "dicom.retrieve.get_sub_operation_counts",
        "PS3.4 C.4.3.1.6 (C-GET sub-operation counts), C.4.3.3 (C-STORE sub-operations on "
        "the same association), PS3.7 D.3.3.4 (SCP/SCU Role Selection)",
        "a C-GET at study, series and image level (Patient and Study Root) delivers each "
        "matching instance once, with consistent pending counts and final totals equal to "
        "the instances received",
    ),
    Check(
        "dicom.retrieve.move_cancel",
        "PS3.4 C.4.2.3.1 (C-CANCEL-MOVE), C.4.2.1.6; PS3.7 9.3.4.2 (Cancel status FE00H)",
        "a C-CANCEL during a C-MOVE ends it with status FE00H, counts consistent with the "
        "instances delivered before it",
    ),
    Check(
        "dicom.retrieve.move_final_response",
        "PS3.4 C.4.2.1.5, C.4.2.3 (one final C-MOVE response after the pending ones), PS3.7 9.3.4",
        "a C-MOVE ends with a final (non-pending) response within the DIMSE timeout",
    ),
    Check(
        "dicom.storage.restore",
        "PS3.4 B.4.1 (behaviour of the Storage SCP), B.2.3; PS3.3 C.12.1.1.1 (a SOP "
        "Instance UID identifies one instance)",
        "a second C-STORE of the same SOP Instance UID is answered and kept as the "
        "profile's dicom.storage.restore says, and the instance exists once",
    ),
    Check(
        "dicom.storage.coercion_announced",
        "PS3.4 B.2.3 (Warning B000H Coercion of Data Elements, B006H Elements Discarded), "
        "B.4.1.3 (coercion of attributes)",
        "a value the target changed in what it keeps is announced with a warning status, "
        "unless the profile lists it in dicom.storage.silent_coercions",
    ),
    Check(
        "dicom.storage.iod_preserved",
        "PS3.3 Annex A (Composite IODs), PS3.4 B.4.1 (the SCP keeps a valid instance); "
        "validated by dciodvfy (dicom3tools)",
        "the retrieved instance has no IOD error (dciodvfy) that the stored one did not have",
    ),
    Check(
        "workflow.day.acquisition",
        "IHE RAD TF-2 4.4/4.5 (RAD-4, RAD-5), 4.6/4.7 (RAD-6/7 MPPS), 4.8 (RAD-8 Modality "
        "Images Stored, Request Attributes Sequence), 4.10 (RAD-10 Storage Commitment), "
        "PS3.4 C.6.2 (Study Root C-FIND)",
        "the whole acquisition day: an HL7-fed worklist item, MPPS IN PROGRESS, its images "
        "stored with the item's keys, MPPS COMPLETED, commitment, and a Study Root C-FIND "
        "showing the study with the accession",
    ),
]

CHECKS: dict[str, Check] = {check.id: check for check in _CHECKS}


def get(check_id: str) -> Check:
    """Return the registered check, or raise KeyError with the closest known ids."""
    try:
        return CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}{did_you_mean(check_id, CHECKS)}") from None
