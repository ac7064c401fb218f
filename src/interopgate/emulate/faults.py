"""Wrong behaviours of the scripted stand-in modality, each with the device checks it breaks.

The device-side analogue of site/faults.py: the self-tests drive the emulated site with
a stand-in modality (DCMTK's findscu/storescu and the harness's DeviceClient) and switch
one of these on; the ``device.*`` checks it names must fail, every other must pass. This
module imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceFault:
    name: str
    description: str
    breaks: tuple[str, ...]


_DEVICE_FAULTS = [
    DeviceFault(
        "undeclared-context",
        "storescu proposes its default list of storage SOP classes, not only the profile's",
        ("device.association.contexts",),
    ),
    DeviceFault(
        "big-endian-proposed",
        "the worklist query's context also offers Explicit VR Big Endian, which the "
        "profile does not claim",
        ("device.association.transfer_syntaxes",),
    ),
    DeviceFault(
        "wrong-calling-ae",
        "the worklist query comes from another calling AE title than the profile's",
        ("device.association.ae_title",),
    ),
    DeviceFault(
        "other-max-pdu",
        "the worklist query's association announces a maximum PDU other than the profile's",
        ("device.association.max_pdu",),
    ),
    DeviceFault(
        "store-on-rejected-context",
        "a C-STORE is sent on the presentation context the site rejected",
        ("device.association.rejected_context",),
    ),
    DeviceFault(
        "extra-matching-key",
        "the worklist query also matches on Patient's Name, a key the profile does not query",
        ("device.mwl.matching_keys",),
    ),
    DeviceFault(
        "no-station-ae-return-key",
        "the worklist query asks no Scheduled Station AE Title, which the profile requires",
        ("device.mwl.return_keys",),
    ),
    DeviceFault(
        "two-sps-items-in-query",
        "the worklist query's Scheduled Procedure Step Sequence carries two items",
        ("device.mwl.encoding",),
    ),
    DeviceFault(
        "cancel-unknown-message-id",
        "the C-CANCEL names a Message ID the device never sent a C-FIND with",
        ("device.mwl.cancel",),
    ),
    DeviceFault(
        "query-loop",
        "the worklist is queried again and again, without pause",
        ("device.mwl.query_loop",),
    ),
    DeviceFault(
        "stops-querying",
        "after the hard worklist the device never queries again (its polling has died)",
        ("device.mwl.query_schedule",),
    ),
    DeviceFault(
        "abort-after-worklist",
        "the device aborts the association after the worklist responses instead of releasing it",
        ("device.behaviour.release",),
    ),
    DeviceFault(
        "mpps-without-sps-reference",
        "the N-CREATE IN PROGRESS carries no Scheduled Step Attributes of the served step",
        ("device.mpps.create_in_progress",),
    ),
    DeviceFault(
        "mpps-completed-without-series",
        "the N-SET COMPLETED carries no Performed Series Sequence",
        ("device.mpps.set_final",),
    ),
    DeviceFault(
        "image-without-accession",
        "the stored image's Accession Number is empty (zero length, not the served one)",
        ("device.storage.worklist_attributes",),
    ),
    DeviceFault(
        "image-without-modality",
        "the stored image lacks Modality (0008,0060), Type 1 in the General Series module",
        ("device.storage.iod",),
    ),
    DeviceFault(
        "commit-unstored-instance",
        "the storage commitment request also names an instance the device never stored",
        ("device.commitment.request",),
    ),
    DeviceFault(
        "commitment-report-unanswered",
        "the device has no handler for the N-EVENT-REPORT: pynetdicom answers 0110H",
        ("device.commitment.report_accepted",),
    ),
]

DEVICE_FAULTS: dict[str, DeviceFault] = {fault.name: fault for fault in _DEVICE_FAULTS}
