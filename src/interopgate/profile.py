"""Vendor profiles: YAML data describing a device, what it expects, and where the target is.

A profile is data, never code: it describes a device and a target, nothing runs from it. This module owns the schema
(pydantic), YAML loading with ``extends:`` inheritance, name lookup (``agfa-cr`` →
``profiles/agfa-cr.yaml``) and target overrides (``--target``). Every problem becomes a
:class:`~interopgate.errors.ProfileError` naming the file, line, key path and what was
expected, so a bad profile stops the run before any test and without a traceback.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from interopgate import checks
from interopgate.dicom import uids
from interopgate.errors import ProfileError, did_you_mean
from interopgate.hl7 import er7
from interopgate.site.faults import FAULTS

# --------------------------------------------------------------------------- value types


def _ae_title(value: str) -> str:
    """PS3.5 6.2, VR AE: 1-16 characters of the default repertoire, no backslash or
    control characters, leading/trailing spaces not significant (so not all spaces)."""
    if not 1 <= len(value) <= 16:
        raise ValueError(f"an AE title has 1 to 16 characters (PS3.5 6.2), got {len(value)}")
    if not value.strip():
        raise ValueError("an AE title cannot be only spaces (PS3.5 6.2)")
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in value):
        raise ValueError(
            f"an AE title uses printable ASCII without backslash (PS3.5 6.2), got {value!r}"
        )
    return value


def _uid_name(kind: str):
    def check(value: str) -> str:
        try:
            uids.resolve(value, kind)
        except KeyError:
            raise ValueError(
                f"unknown {kind} {value!r}{did_you_mean(value, uids.names(kind))}; "
                "use a PS3.6 keyword such as ComputedRadiographyImageStorage or a dotted UID"
            ) from None
        return value

    return check


def _fault_name(value: str) -> str:
    if value not in FAULTS:
        raise ValueError(
            f"unknown fault {value!r}{did_you_mean(value, FAULTS)}; "
            "`interopgate faults` lists the catalogue"
        )
    return value


def _check_id(value: str) -> str:
    base = value.split("[", 1)[0]
    if base not in checks.CHECKS:
        raise ValueError(
            f"unknown check {base!r}{did_you_mean(base, checks.CHECKS)}; "
            "`interopgate checks` lists them"
        )
    return value


AETitle = Annotated[str, AfterValidator(_ae_title)]
SopClass = Annotated[str, AfterValidator(_uid_name("SOP Class"))]
TransferSyntax = Annotated[str, AfterValidator(_uid_name("Transfer Syntax"))]
ANY_STORAGE = "AnyStorage"


def _provided_sop_class(value: str) -> str:
    """A SOP class name, or ``AnyStorage`` for every storage SOP class."""
    if value == ANY_STORAGE:
        return value
    try:
        uids.resolve(value)
    except KeyError:
        raise ValueError(
            f"unknown SOP Class {value!r}{did_you_mean(value, [ANY_STORAGE, *uids.names()])}; "
            f"use {ANY_STORAGE}, a PS3.6 keyword such as ComputedRadiographyImageStorage "
            "or a dotted UID"
        ) from None
    return value


ProvidedSopClass = Annotated[str, AfterValidator(_provided_sop_class)]
FaultName = Annotated[str, AfterValidator(_fault_name)]
CheckId = Annotated[str, AfterValidator(_check_id)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Rejects unknown keys with a "did you mean" hint and the list of valid keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}'{hint}; expected one of: {known}",
                        {
                            "key": str(key),
                            "hint": did_you_mean(str(key), known),
                            "known": ", ".join(known),
                        },
                    )
        return data


# --------------------------------------------------------------------------- sections


class Device(Strict):
    """The device (Application Entity) the harness plays."""

    ae_title: AETitle
    modality: str = "OT"
    manufacturer: str | None = None
    model: str | None = None


class Tls(Strict):
    """Transport security the target offers (PS3.15 B.9/B.10 BCP 195 TLS profiles; MLLP
    over TLS as IHE ITI TF-2 3.19 ATNA). Without ``ca_file`` an embedded or process
    target makes its own test CA at start and hands the harness its files."""

    mode: Literal["required", "optional"] = Field(
        "required",
        description="required: the target takes TLS only (plain TCP is refused); "
        "optional: it takes TLS and plain TCP on the same port",
    )
    services: list[Literal["dicom", "hl7"]] = Field(
        ["dicom"], min_length=1, description="where TLS is spoken: DICOM, MLLP or both"
    )
    ca_file: Path | None = Field(None, description="the CA the target's certificate chains to")
    cert_file: Path | None = Field(None, description="the device's client certificate (PEM)")
    key_file: Path | None = Field(None, description="the device's private key (PEM)")
    server_name: str | None = Field(
        None,
        description="the host name or IP the target's certificate must carry; "
        "unset = the target's host",
    )
    requires_client_certificate: bool = Field(
        True, description="the target refuses a client without a certificate it trusts"
    )
    verify: Literal["every-connection", "certificate-check"] = Field(
        "every-connection",
        description="every-connection: each association checks the target's certificate; "
        "certificate-check: only security.tls.server_certificate judges it, the other "
        "checks talk over TLS without checking it (one defect fails one check)",
    )

    @model_validator(mode="after")
    def _key_with_cert(self) -> Tls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file go together")
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError("tls: cert_file needs the ca_file the target's certificate chains to")
        return self


class AccessControl(Strict):
    """Which calling AE titles the target serves (PS3.8 9.3.4: an unknown one is
    refused with A-ASSOCIATE-RJ source 1, reason 3)."""

    refuses_unknown_calling_ae: bool = True
    known_calling_aes: list[AETitle] = Field(
        [], description="calling AE titles the target knows besides the device's own"
    )


class TargetBase(Strict):
    """What every target kind shares: the called AE and what the target promises."""

    called_ae: AETitle = "IG_PACS"
    accepts_any_called_ae: bool = Field(
        False,
        description="the target accepts associations whatever the called AE title "
        "(promiscuous, e.g. Orthanc with DicomCheckCalledAet=false)",
    )
    connect_timeout: float = Field(5.0, gt=0, le=120)
    dimse_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="seconds for each DIMSE response; a C-STORE or C-MOVE of an instance "
        "with bulk pixel data waits this plus the data's size at 2 MiB/s",
    )
    # Bounds against a target that misbehaves mid-exchange (docs/robustness.md); the
    # defaults never fire on a healthy target.
    acse_timeout: float | None = Field(
        None,
        gt=0,
        le=600,
        description="seconds for A-ASSOCIATE-AC / A-RELEASE-RP (unset = connect_timeout + 5)",
    )
    network_timeout: float | None = Field(
        None,
        gt=0,
        le=900,
        description="seconds one PDU may take to arrive once begun, "
        "and an association may stay silent (unset = dimse_timeout + 5)",
    )
    find_timeout: float = Field(
        300.0, gt=0, le=3600, description="seconds one C-FIND may take to its final response"
    )
    max_find_responses: int = Field(
        50_000,
        ge=1,
        le=10_000_000,
        description="pending responses read for one C-FIND before the harness aborts",
    )
    max_pdu_read: int = Field(
        64 * 1024 * 1024,
        ge=16384,
        le=1 << 31,
        description="the largest PDU length the harness reads from the target (bytes)",
    )
    provides: list[ProvidedSopClass] | None = Field(
        None,
        description="the SOP classes the target's conformance statement says it provides "
        "(AnyStorage = every storage SOP class); unset = as the device profile expects. "
        "Proposed classes it does not provide are expected rejected; checks of a service "
        "it does not provide are not applicable.",
    )
    rejection_result: Literal[1, 2, 3] | None = Field(
        None,
        description="the presentation context result the target's conformance statement "
        "promises for an abstract syntax it does not support: 3 (abstract-syntax-not-"
        "supported), 2 or 1; unset = any rejection (1, 2 or 3), since PS3.8 9.3.3.2 and "
        "7.1.1.14 leave the choice to the acceptor",
    )
    tls: Tls | None = Field(None, description="the target speaks TLS (unset: plain TCP)")
    access_control: AccessControl | None = Field(
        None, description="the target refuses calling AE titles it does not know"
    )


class EmbeddedTarget(TargetBase):
    """The pure-Python reference site, started on free loopback ports for the session."""

    kind: Literal["embedded"] = "embedded"
    faults: list[FaultName] = []
    # The reference site's own conformance statement: unsupported abstract syntaxes are
    # rejected with result 3 (pynetdicom's default), so wrong-reject-reason is a defect.
    rejection_result: Literal[1, 2, 3] | None = 3


class LiveTarget(TargetBase):
    """A system already running somewhere the harness can reach."""

    kind: Literal["live"]
    host: str = "127.0.0.1"
    dicom_port: Port
    called_ae: AETitle
    hl7_port: Port | None = None
    device_port: Port | None = Field(
        None,
        description="the port the harness listens on as the device's own SCP: the live "
        "system must know the device's AE title at this host and port as C-MOVE "
        "destination (and where Storage Commitment reports go); unset: C-MOVE checks skip",
    )


class ProcessTarget(TargetBase):
    """A third-party server started from its package (DCMTK, Orthanc from Debian; the
    MessageFoundry HL7 engine from PyPI in front of wlmscpfs)."""

    kind: Literal["process"]
    # The names of targets.process.SERVERS, spelled out so the schema (and a type checker)
    # sees them without importing the launchers; tests/test_target_layout.py keeps both equal.
    server: Literal[
        "dcmtk-wlmscpfs",
        "dcmtk-dcmqrscp",
        "orthanc",
        "messagefoundry-wlmscpfs",
        "dcmtk-storescp-tls",
        "orthanc-tls",
    ]
    startup_timeout: float = Field(20.0, gt=0, le=300)


class ContainerTarget(TargetBase):
    """A server in a container started through testcontainers (docker/)."""

    kind: Literal["container"]
    # The names of targets.container.SERVICES (docker/), kept equal as for ProcessTarget.
    service: Literal["orthanc", "dcm4chee", "dcmtk-wlmscpfs", "dcmtk-dcmqrscp"]


Target = Annotated[
    EmbeddedTarget | LiveTarget | ProcessTarget | ContainerTarget, Field(discriminator="kind")
]


class Worklist(Strict):
    """The device's Modality Worklist query (IHE RAD-5) and where the target's items come from."""

    query: dict[str, Any] = Field(
        {},
        description="matching keys as the device sends them; SPS attributes (Modality, "
        "ScheduledStationAETitle, ScheduledProcedureStepStartDate, ...) go into the SPS "
        "item; 'today', 'today+Nd', 'today-Nd' are dates (also in ranges: today-1d-today+1d)",
    )
    required_return_keys: list[str] = []
    source: Literal["generated", "preloaded", "declared", "hl7"] = Field(
        "generated",
        description="generated: the harness seeds its Faker items through the target's "
        "seeder; preloaded: the target already holds those items for this --seed (e.g. "
        ".wl files written beforehand); declared: the target holds `items`; hl7: items "
        "are fed over the HL7 interface (the seeder's worklist feed)",
    )
    items: list[dict[str, Any]] = Field(
        [], description="with source: declared, the worklist items the target holds (keywords)"
    )


class Find(Strict):
    """What the target promises about C-FIND (PS3.4 C.2.2.2); defaults are the standard's."""

    information_models: list[Literal["study", "patient", "worklist"]] = [
        "study",
        "patient",
        "worklist",
    ]
    pn_matching: Literal["case-sensitive", "case-insensitive", "either"] = Field(
        "either",
        description="PS3.4 C.2.2.2.1 allows case-insensitive PN matching: 'either' accepts both",
    )


def _status_code(value: Any) -> int:
    """A DIMSE status (PS3.7 Annex C) as 0110H, "0110" or an integer."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9A-Fa-f]{4}H?", value.strip()):
        return int(value.strip().rstrip("Hh"), 16)
    raise ValueError(f"{value!r} is not a DIMSE status; write it as four hex digits, e.g. 0110H")


StatusCode = Annotated[int, BeforeValidator(_status_code)]


class CodedReason(Strict):
    """A code sequence item (PS3.3 8.8): value, coding scheme, meaning."""

    value: Annotated[str, Field(min_length=1, max_length=16)]
    scheme: Annotated[str, Field(min_length=1, max_length=16)] = "DCM"
    meaning: Annotated[str, Field(min_length=1, max_length=64)]


class Mpps(Strict):
    """What the target promises as Modality Performed Procedure Step SCP (PS3.4 F.7,
    IHE RAD-6/7); the defaults are the standard's statuses."""

    final_update_status: list[StatusCode] = Field(
        [0x0110],
        description="statuses allowed for an N-SET of an instance already COMPLETED or "
        "DISCONTINUED (PS3.4 F.7.2.2: 0110H, 'may no longer be updated')",
    )
    unknown_instance_status: list[StatusCode] = Field(
        [0x0112], description="statuses allowed for an N-SET of an instance never created"
    )
    missing_attribute_status: list[StatusCode] = Field(
        [0x0120, 0x0121],
        description="statuses allowed for an N-CREATE without a Type 1 attribute "
        "(PS3.4 Table F.7.2-1; PS3.7 Annex C: 0120H Missing Attribute, 0121H Missing Value)",
    )
    unscheduled: bool = Field(
        True,
        description="the target accepts an unscheduled step (no worklist item: IHE RAD "
        "TF-2 4.6 RAD-6, a Scheduled Step Attributes Sequence item without SPS keys)",
    )
    discontinued_reason: CodedReason = Field(
        CodedReason(value="110514", meaning="Incorrect worklist entry selected"),
        description="the Performed Procedure Step Discontinuation Reason Code Sequence "
        "(0040,0281) item sent with DISCONTINUED (CID 9300)",
    )


class Commitment(Strict):
    """What the target promises as Storage Commitment Push Model SCP (PS3.4 J.3,
    IHE RAD-10)."""

    report: Literal["same-association", "new-association", "either"] = Field(
        "either",
        description="where the N-EVENT-REPORT comes: on the association of the N-ACTION, "
        "on a new association the target opens to the device (RunningTarget."
        "move_destination, SCP role negotiated), or either (PS3.4 J.3.3.1.2)",
    )
    timeout: float = Field(
        10.0, gt=0, le=600, description="seconds the N-EVENT-REPORT may take after the N-ACTION"
    )
    failure_reasons: list[StatusCode] = Field(
        [0x0112],
        description="Failure Reason (0008,1197) values allowed for an instance the target "
        "never received (PS3.4 J.3.3.1.1: 0112H No such object instance)",
    )


class Storage(Strict):
    """What the target promises as Storage SCP (PS3.4 B.2.3) about what it keeps."""

    allowed_status: list[StatusCode] = Field(
        [0x0000],
        description="C-STORE statuses allowed for a valid instance: 0000H, and B000H "
        "(coercion), B006H (elements discarded), B007H (data set does not match SOP class) "
        "only where the target documents them",
    )
    accepted_coercions: list[str] = Field(
        [],
        description="attribute keywords the target may change, drop or add (e.g. patient "
        "demographics reconciled from the worklist; 'private' for private elements): "
        "every other difference in the retrieved instance fails the round trip",
    )
    silent_coercions: list[str] = Field(
        [],
        description="attribute keywords the target changes without a warning status, as "
        "its conformance statement says; any other change must come with B000H/B006H/B007H",
    )
    restore: Literal["accept-overwrite", "accept-keep", "refuse"] = Field(
        "accept-overwrite",
        description="a second C-STORE of the same SOP Instance UID: accepted and the new "
        "copy kept, accepted and the first kept, or refused with a failure status; "
        "never a second instance",
    )


class Emulate(Strict):
    """The site the harness plays when the device is the system under test
    (``interopgate emulate``, ``pytest --role=scp``): what the device is configured
    against, and what it may expect of it."""

    ae_title: AETitle = Field("IG_SITE", description="the emulated site's AE title")
    host: str = Field("0.0.0.0", description="where the emulated site listens")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        11112, description="its port (0 = a free one; 11112 is DICOM's registered port)"
    )
    max_pdu: int = Field(16384, ge=0, description="the site's own maximum PDU (0 = unlimited)")
    reject: list[SopClass] = Field(
        [],
        description="SOP classes whose presentation contexts the site rejects, to see that "
        "the device then sends nothing on them (PS3.8 9.3.3.2)",
    )
    worklist: Literal["standard", "hard"] = Field(
        "hard",
        description="standard: today's generated items; hard: also an empty SPS Sequence, "
        "non-ASCII and five-component names, a zero-length SPS Start Time, 200 responses",
    )
    commitment_report: Literal["same-association", "new-association"] = Field(
        "same-association",
        description="where the site sends the Storage Commitment N-EVENT-REPORT (PS3.4 "
        "J.3.3.1.2): new-association needs device_port",
    )
    device_host: str = "127.0.0.1"
    device_port: Port | None = Field(
        None, description="the device's own SCP (the commitment report on a new association)"
    )
    min_query_interval: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="three identical worklist queries closer than this (seconds) are a loop",
    )
    query_interval: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="the device's worklist polling interval (seconds) as configured: a "
        "recording longer than two of them must show a query at least every 1.5 of them",
    )


class Dicom(Strict):
    propose: list[SopClass] = ["Verification"]
    expect_rejected: list[SopClass] = []
    transfer_syntaxes: list[TransferSyntax] = ["ExplicitVRLittleEndian", "ImplicitVRLittleEndian"]
    max_pdu: int = Field(16384, ge=0, description="the device's own maximum PDU (0 = unlimited)")
    worklist: Worklist | None = None
    find: Find = Find()
    mpps: Mpps = Mpps()
    commitment: Commitment = Commitment()
    storage: Storage = Storage()

    @model_validator(mode="after")
    def _disjoint(self) -> Dicom:
        both = {uids.resolve(n) for n in self.propose} & {
            uids.resolve(n) for n in self.expect_rejected
        }
        if both:
            raise ValueError(
                f"{', '.join(uids.label(u) for u in sorted(both))} is both proposed "
                "and expected rejected"
            )
        return self

    def proposed_uids(self) -> list[str]:
        return [uids.resolve(n) for n in self.propose]

    def transfer_syntax_uids(self) -> list[str]:
        return [uids.resolve(n, "Transfer Syntax") for n in self.transfer_syntaxes]


HL7_MESSAGE_TYPES = ("SIU^S12", "SIU^S14", "SIU^S15", "ORM^O01", "OMI^O23", "ADT^A04", "ADT^A08")


def _hl7_message_type(value: str) -> str:
    if value not in HL7_MESSAGE_TYPES:
        raise ValueError(
            f"unsupported HL7 message type {value!r}{did_you_mean(value, HL7_MESSAGE_TYPES)}; "
            f"expected one of: {', '.join(HL7_MESSAGE_TYPES)}"
        )
    return value


def _timestamp_form(value: str) -> str:
    from interopgate.hl7.timestamps import Form

    Form.parse(value)  # ValueError names the unknown token
    return value


def _hl7_location(value: str) -> str:
    if not er7.is_location(value):
        raise ValueError(f"{value!r} is not a field location like MSH-5, PID-3.1 or SCH-11.4")
    return value


# PS3.3 C.4.10, Scheduled Procedure Step Status (0040,0020): the Defined Terms, all of
# them states of a step still to be (or being) performed.
SPS_STATUS_ACTIVE = ("SCHEDULED", "ARRIVED", "READY", "STARTED", "DEPARTED")
DEFAULT_CANCEL_STATUS = "CANCELED"


def check_cancel_status(value: str) -> str:
    """A CS value (PS3.5 6.2: at most 16 of A-Z, 0-9, space, underscore) that is not one
    of the active Defined Terms of PS3.3 C.4.10."""
    if not re.fullmatch(r"[A-Z0-9_ ]{1,16}", value) or not value.strip():
        raise ValueError(
            f"{value!r} is not a CS value (PS3.5 6.2: 1-16 characters of A-Z, 0-9, "
            "space and underscore), e.g. CANCELED"
        )
    if value.strip() in SPS_STATUS_ACTIVE:
        raise ValueError(
            f"{value!r} is a Scheduled Procedure Step Status of a step still to be performed "
            f"(PS3.3 C.4.10 Defined Terms {', '.join(SPS_STATUS_ACTIVE)}); a cancelled step "
            "needs another marker, e.g. CANCELED"
        )
    return value


HL7MessageType = Annotated[str, AfterValidator(_hl7_message_type)]
CancelStatus = Annotated[str, AfterValidator(check_cancel_status)]
HL7Location = Annotated[str, AfterValidator(_hl7_location)]
TimestampForm = Annotated[str, AfterValidator(_timestamp_form)]


class HL7Ack(Strict):
    """What the target promises about acknowledgments (HL7 2.5 §2.9)."""

    enhanced_mode: bool = Field(
        False,
        description="the target honours MSH-15 (table 0155: AL, NE, ER, SU) with commit "
        "ACKs CA/CE/CR (HL7 2.5 §2.9.3)",
    )
    application_ack: Literal["none", "same-connection"] = Field(
        "none",
        description="in enhanced mode (ignored without it), how the target returns the "
        "application ACK MSH-16 asks for: none = it sends none; same-connection = as a "
        "message of its own on the connection the original came in on, after the commit ACK",
    )
    timeout: float = Field(5.0, gt=0, le=120, description="seconds to wait for an ACK")


MESSAGE_FAMILIES = ("SIU", "ORM", "OMI")  # the HL7 messages a worklist is fed from


class HL7(Strict):
    """The target's HL7 v2 interface: version, messages, the timestamps it must take."""

    version: Literal["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"] = "2.5"
    messages: list[HL7MessageType] = []
    timestamp_forms: list[TimestampForm] = Field(
        [], description="forms the target must accept, e.g. YYYYMMDDHHMM, YYYYMMDDHHMMSS+ZZZZ"
    )
    forms_rejected: list[TimestampForm] = Field(
        [], description="forms the target must reject with AE/AR, e.g. YYYYMMDDHH:MM:SS"
    )
    strict: bool = Field(
        True,
        description="judge TS/DTM by the calendar (NIST-like); false accepts hour 24 and "
        "day 31 in any month (HAPI-like)",
    )
    ack: HL7Ack = HL7Ack()
    connection: Literal["persistent", "per-message"] = "persistent"
    pipeline: int = Field(
        1,
        ge=1,
        le=64,
        description="messages a sweep sends ahead on its one connection before it waits "
        "for the oldest ACK (ACKs matched by MSA-2); 1 = send, wait, send -- what a "
        "receiver that reads one frame at a time needs; more only with connection: "
        "persistent, for an engine known to read ahead",
    )
    connect_timeout: float = Field(5.0, gt=0, le=120)
    max_frame: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=1 << 30,
        description="the largest MLLP frame (bytes) the harness reads from the target; a "
        "reply growing past it ends the exchange (bounded memory)",
    )
    sweep_budget: float = Field(
        240.0,
        gt=0,
        le=3600,
        description="seconds the timestamp sweep may take in all; when they run out it "
        "reports the minutes sent, refused and not sent (its test timeout follows from it)",
    )
    encoding: Literal["", "ASCII", "8859/1", "UNICODE UTF-8"] = Field(
        "", description="MSH-18 character set of the messages sent (empty: ASCII)"
    )
    pin: dict[HL7Location, str] = Field(
        {},
        description="field values every message sent carries, e.g. {MSH-5: RIS, MSH-6: "
        "RADIOLOGY} for an engine that routes on the receiving application/facility",
    )
    to_worklist: dict[str, str | dict[str, str]] = Field(
        {},
        description="DICOM attribute -> HL7 location overriding the IHE SWF default "
        "(interopgate.hl7.worklist_mapping), e.g. {AccessionNumber: OBR-18}; under SIU, ORM "
        "or OMI for one message family only, e.g. {SIU: {AccessionNumber: SCH-2.1}}",
    )
    worklist_deadline: float = Field(
        5.0, gt=0, le=300, description="seconds an accepted message may take to reach the MWL"
    )
    cancel: Literal["remove", "mark"] = Field(
        "remove",
        description="what a cancel (SIU^S15, ORM/OMI ORC-1 CA) does to the worklist item: "
        "remove it, or keep it marked with Scheduled Procedure Step Status (0040,0020) = "
        "cancel_status",
    )
    cancel_status: CancelStatus = Field(
        DEFAULT_CANCEL_STATUS,
        description="with cancel: mark, the Scheduled Procedure Step Status (0040,0020) of a "
        "cancelled item (CS). Not a PS3.3 C.4.10 Defined Term (SCHEDULED, ARRIVED, READY, "
        "STARTED, DEPARTED: all active steps); CANCELED is spelled as the UPS Procedure Step "
        "State (0074,1000, PS3.3 C.30.1) and as dcm4chee-arc writes it",
    )

    @field_validator("to_worklist")
    @classmethod
    def _mapping_shape(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, location in value.items():
            family = key in MESSAGE_FAMILIES
            if family and not isinstance(location, dict):
                raise ValueError(
                    f"{key}: expected a mapping {{attribute: location}} for {key} messages"
                )
            if not family and isinstance(location, dict):
                raise ValueError(
                    f"{key}: a nested mapping is only for a message family "
                    f"({', '.join(MESSAGE_FAMILIES)}); an attribute maps to one location"
                )
        return value

    @model_validator(mode="after")
    def _messages_exist_in_version(self) -> HL7:
        if "OMI^O23" in self.messages and self.version in ("2.3", "2.3.1", "2.4"):
            raise ValueError(f"OMI^O23 does not exist in HL7 {self.version} (from 2.5 on)")
        return self

    @model_validator(mode="after")
    def _pipeline_needs_one_connection(self) -> HL7:
        if self.pipeline > 1 and self.connection != "persistent":
            raise ValueError(
                f"pipeline {self.pipeline} sends messages ahead on one connection: it needs "
                f"connection: persistent (connection is {self.connection!r})"
            )
        return self

    @model_validator(mode="after")
    def _cancel_status_needs_mark(self) -> HL7:
        if "cancel_status" in self.model_fields_set and self.cancel != "mark":
            raise ValueError(
                f"cancel_status {self.cancel_status!r} is used only with cancel: mark "
                f"(cancel is {self.cancel!r}: the item is removed)"
            )
        return self


class Load(Strict):
    """``interopgate load`` (interopgate/load/): the traffic the device and the order
    placer make at once, how long, and the limits that turn the figures into a verdict."""

    users: int = Field(20, ge=1, le=10000, description="simulated systems in all")
    spawn_rate: float = Field(10.0, gt=0, le=1000, description="users started per second")
    duration: float = Field(60.0, gt=0, le=86400, description="seconds of traffic")
    senders: int = Field(
        1, ge=0, le=1000, description="of the users, order placers (EHR); the rest are modalities"
    )
    query_interval: float = Field(
        5.0, gt=0, le=3600, description="seconds between a modality's worklist queries"
    )
    images_per_procedure: int = Field(
        3, ge=0, le=1000, description="images a modality stores per performed step"
    )
    message_rate: float = Field(
        2.0, gt=0, le=10000, description="HL7 create messages per second, all senders together"
    )
    p95_ms: float = Field(2000.0, gt=0, description="per operation: 95th percentile limit")
    p99_ms: float = Field(5000.0, gt=0, description="per operation: 99th percentile limit")
    max_error_rate: float = Field(
        0.0, ge=0, le=1, description="per operation: failed / all (0: none may fail)"
    )
    max_associations: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="the target's declared limit of concurrent associations; the limit "
        "check opens that many and one more (none: no limit check)",
    )
    association_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds the association beyond the limit may take"
    )

    @model_validator(mode="after")
    def _a_modality_remains(self) -> Load:
        if self.senders >= self.users:
            raise ValueError(
                f"senders ({self.senders}) must leave at least one of the {self.users} "
                "users to play a modality"
            )
        return self


class KnownDeviation(Strict):
    """A documented departure: the check is reported as a known deviation (xfail)."""

    check: CheckId
    reason: Annotated[str, Field(min_length=3)]
    clause: str | None = None


class Profile(Strict):
    name: str
    description: str | None = None
    # A profile that only says where the target is still runs: the harness then plays a
    # generic AE that proposes Verification only (Dicom's defaults).
    device: Device = Device(ae_title="INTEROPGATE")
    target: Target = EmbeddedTarget()
    dicom: Dicom = Dicom()
    hl7: HL7 = HL7()
    emulate: Emulate = Emulate()  # the device as system under test
    load: Load = Load()
    known_deviations: list[KnownDeviation] = []

    def target_provides(self, name: str) -> bool:
        """Whether the target provides a SOP class (by ``target.provides``; when that is
        unset, whatever the device does not expect rejected)."""
        uid = uids.resolve(name)
        provides = self.target.provides
        if provides is None:
            return uid not in {uids.resolve(n) for n in self.dicom.expect_rejected}
        if ANY_STORAGE in provides and uids.is_storage(uid):
            return True
        return uid in {uids.resolve(n) for n in provides if n != ANY_STORAGE}

    def deviation_for(self, check_id: str, param_id: str | None) -> KnownDeviation | None:
        """The deviation covering ``check_id`` (or ``check_id[param]``), if any."""
        wanted = {check_id, f"{check_id}[{param_id}]"} if param_id else {check_id}
        return next((d for d in self.known_deviations if d.check in wanted), None)


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedProfile:
    profile: Profile
    source: Path
    chain: list[Path] = field(default_factory=list)


@dataclass
class _Document:
    path: Path
    data: dict[str, Any]
    lines: dict[tuple[Any, ...], int]


def available_profiles(profiles_dir: Path) -> list[str]:
    if not profiles_dir.is_dir():
        return []
    return sorted(p.stem for p in profiles_dir.glob("*.yaml"))


def _read_yaml(path: Path) -> _Document:
    try:
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ProfileError(
                f"{path}: {path.stat().st_size} bytes; a profile is at most "
                f"{MAX_PROFILE_BYTES} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the file ({exc})") from None
    try:
        # One parse for both: the node tree (line numbers, below) and the data built
        # from it, as yaml.safe_load builds it.
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise ProfileError(f"{path}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{where}: YAML syntax error: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(
            f"{path}:1: a profile is a YAML mapping (device:, target:, dicom:, ...), "
            f"got a {type(data).__name__}"
        )
    lines: dict[tuple[Any, ...], int] = {}
    try:
        _index_lines(node, (), lines)
    except _TooManyNodes:
        raise ProfileError(
            f"{path}: more than {MAX_PROFILE_NODES} values once YAML aliases are expanded; "
            "a profile is small data (aliases that multiply, as in a 'billion laughs' "
            "file, are refused)"
        ) from None
    except RecursionError:
        raise ProfileError(
            f"{path}: values nested more than 64 levels deep (or an alias that contains "
            "itself); a profile is flat data"
        ) from None
    return _Document(path, data, lines)


# A profile is a few hundred values: far larger ones are refused before validation.
MAX_PROFILE_BYTES = 1024 * 1024
MAX_PROFILE_NODES = 100_000


class _TooManyNodes(Exception):
    pass


def _index_lines(node: yaml.Node | None, path: tuple[Any, ...], out: dict) -> None:
    """Record the 1-based line of every key path, so errors can point into the file;
    counts the values as aliases expand them (:data:`MAX_PROFILE_NODES`)."""
    if node is None:
        return
    if len(path) > 64:
        raise RecursionError()  # nested (or self-referencing through an alias) too deeply
    if len(out) > MAX_PROFILE_NODES:
        raise _TooManyNodes()
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), out)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; everything else (lists included) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_path(ref: str, profiles_dir: Path, relative_to: Path | None = None) -> Path:
    """``NAME`` → ``profiles_dir/NAME.yaml``; a path (has ``/`` or ``.yaml``) is used as is."""
    looks_like_path = "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml"))
    if looks_like_path:
        path = Path(ref).expanduser()
        if not path.is_absolute() and relative_to is not None:
            candidate = relative_to / path
            in_profiles = profiles_dir / path
            path = candidate if candidate.exists() or not in_profiles.exists() else in_profiles
        if not path.exists():
            raise ProfileError(f"profile file {ref!r} not found (looked for {path.resolve()})")
        return path
    for folder in filter(None, [relative_to, profiles_dir]):
        candidate = folder / f"{ref}.yaml"
        if candidate.exists():
            return candidate
    names = available_profiles(profiles_dir)
    raise ProfileError(
        f"unknown profile {ref!r}{did_you_mean(ref, names)}: no {ref}.yaml in {profiles_dir}; "
        f"available profiles: {', '.join(names) or '(none)'}"
    )


def _confined(ref: str, path: Path, folder: Path, profiles_dir: Path) -> Path:
    """A relative ``extends:`` path must stay in the extending profile's folder or the
    profiles folder: a profile from elsewhere (a vendor, a ticket) cannot make the
    harness read ``../../etc/...``. An absolute path is the user's own choice."""
    if Path(ref).expanduser().is_absolute():
        return path
    real = path.resolve()
    roots = [folder.resolve(), profiles_dir.resolve()]
    if any(real == root or root in real.parents for root in roots):
        return path
    raise ProfileError(
        f"{ref!r} leads outside the profile's folder ({roots[0]}) and the profiles folder "
        f"({roots[1]}); a relative extends stays inside them (write an absolute path to "
        "extend a profile elsewhere)"
    )


def _load_chain(path: Path, profiles_dir: Path, seen: list[Path]) -> list[_Document]:
    resolved = path.resolve()
    if resolved in seen:
        cycle = " -> ".join(p.name for p in [*seen, resolved])
        raise ProfileError(f"{path}: cyclic 'extends': {cycle}")
    doc = _read_yaml(path)
    parent = doc.data.get("extends")
    if parent is None:
        return [doc]
    if not isinstance(parent, str):
        line = doc.lines.get(("extends",), 1)
        raise ProfileError(
            f"{path}:{line}: extends: expected a profile name or path, got {parent!r}"
        )
    try:
        parent_path = resolve_path(parent, profiles_dir, relative_to=path.parent)
        parent_path = _confined(parent, parent_path, path.parent, profiles_dir)
    except ProfileError as exc:
        raise ProfileError(f"{path}:{doc.lines.get(('extends',), 1)}: extends: {exc}") from None
    return [*_load_chain(parent_path, profiles_dir, [*seen, resolved]), doc]


def _locate(docs: list[_Document], loc: tuple[Any, ...]) -> str:
    """``file:line`` of the deepest part of ``loc`` found, most-derived file first."""
    for depth in range(len(loc), -1, -1):
        for doc in reversed(docs):
            if loc[:depth] in doc.lines:
                return f"{doc.path}:{doc.lines[loc[:depth]]}"
    return str(docs[-1].path)


def _format_errors(exc: ValidationError, docs: list[_Document]) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(part for part in err["loc"] if not _is_union_tag(part))
        if err["type"] == "unknown_key":
            loc = (*loc, err["ctx"]["key"])
        dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
        dotted = dotted.replace(".[", "[") or "(top level)"
        message = err["msg"]
        message = re.sub(r"^Value error, ", "", message)
        if err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] not in ("unknown_key", "value_error"):
            message = f"{message} (got {err.get('input')!r})"
        lines.append(f"{_locate(docs, loc)}: {dotted}: {message}")
    return "\n".join(lines)


def _is_union_tag(part: Any) -> bool:
    return part in ("embedded", "live", "process", "container")


def target_override(spec: str, profiles_dir: Path) -> dict[str, Any]:
    """``--target`` values: ``embedded``, ``dicom://AE@host:port``, or a target profile name
    (``profiles/targets/NAME.yaml``, holding ``target:`` and optional ``known_deviations:``)."""
    if spec == "embedded":
        return {"target": {"kind": "embedded"}}
    match = re.fullmatch(r"dicom://(?:([^@]+)@)?([^:/]+):(\d+)/?", spec)
    if match:
        ae, host, port = match.groups()
        return {
            "target": {
                "kind": "live",
                "host": host,
                "dicom_port": int(port),
                "called_ae": ae or "ANY-SCP",
            }
        }
    if spec.startswith("dicom:"):
        raise ProfileError(f"--target={spec}: expected dicom://CALLED_AE@host:port")
    targets_dir = profiles_dir / "targets"
    path = resolve_path(spec, targets_dir)
    doc = _read_yaml(path)
    unknown = set(doc.data) - {"target", "known_deviations", "description", "hl7", "dicom"}
    if unknown:
        key = sorted(unknown)[0]
        raise ProfileError(
            f"{path}:{doc.lines.get((key,), 1)}: unknown key {key!r} in a target profile; "
            "expected one of: target, known_deviations, description, hl7"
        )
    hl7 = doc.data.get("hl7") or {}
    if not isinstance(hl7, dict) or set(hl7) - _SITE_HL7_KEYS:
        key = sorted(set(hl7) - _SITE_HL7_KEYS)[0] if isinstance(hl7, dict) else "hl7"
        raise ProfileError(
            f"{path}:{doc.lines.get(('hl7', key), doc.lines.get(('hl7',), 1))}: hl7.{key} "
            "belongs to the device profile; a target profile's hl7 section holds what the "
            f"site decides: {', '.join(sorted(_SITE_HL7_KEYS))}"
        )
    dicom = doc.data.get("dicom") or {}
    storage = dicom.get("storage") if isinstance(dicom, dict) else None
    if (
        not isinstance(dicom, dict)
        or set(dicom) - {"storage"}
        or not isinstance(storage or {}, dict)
        or set(storage or {}) - _SITE_STORAGE_KEYS
    ):
        raise ProfileError(
            f"{path}:{doc.lines.get(('dicom',), 1)}: a target profile's dicom section holds "
            f"only storage: {{{', '.join(sorted(_SITE_STORAGE_KEYS))}}}, what its Storage "
            "SCP keeps; the rest belongs to the device profile"
        )
    return doc.data


# What a site (not the device) decides about HL7: its mapping into the worklist, how long
# that takes, field values its engine routes on, and what a cancel does to the item.
_SITE_HL7_KEYS = {"to_worklist", "worklist_deadline", "pin", "cancel", "cancel_status"}
# ... and about what its Storage SCP keeps (its conformance statement): dicom.storage.*.
_SITE_STORAGE_KEYS = {"allowed_status", "accepted_coercions", "silent_coercions", "restore"}


_NETWORK_FIELDS = {"host": "--target-host", "dicom_port": "--dicom-port", "hl7_port": "--hl7-port"}
_LIVE_KEEPS = {
    "called_ae",
    "accepts_any_called_ae",
    "connect_timeout",
    "dimse_timeout",
    "acse_timeout",
    "network_timeout",
    "find_timeout",
    "max_find_responses",
    "max_pdu_read",
    "provides",
    "rejection_result",
}


def apply_target_fields(target: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The command-line target options over the profile's target. An address option
    makes a non-live target live (keeping its AE title and promises); ``--called-ae``
    alone applies to any kind (the embedded site or a started server takes that title)."""
    if "called_ae" in fields:
        try:
            _ae_title(fields["called_ae"])
        except ValueError as exc:
            raise ProfileError(f"--called-ae {fields['called_ae']!r}: {exc}") from None
    merged = dict(target)
    network = [key for key in fields if key in _NETWORK_FIELDS]
    if network and merged.get("kind", "embedded") != "live":
        was = merged.get("kind", "embedded")
        merged = {key: value for key, value in merged.items() if key in _LIVE_KEEPS}
        merged["kind"] = "live"
        options = ", ".join(_NETWORK_FIELDS[key] for key in network)
        if "dicom_port" not in fields:
            raise ProfileError(
                f"{options} turn the {was} target into a live one, which needs --dicom-port too"
            )
        if "called_ae" not in fields and "called_ae" not in target:
            raise ProfileError(
                f"{options} turn the {was} target into a live one: give its AE title with "
                "--called-ae"
            )
    merged.update(fields)
    return merged


def _overridable(data: dict[str, Any], docs: list[_Document]) -> None:
    """Command-line target options merge into ``target:``: it must be a mapping (and its
    ``faults`` a list) before they can, else one message names where it is not."""
    target = data.get("target")
    if target is not None and not isinstance(target, dict):
        raise ProfileError(
            f"{_locate(docs, ('target',))}: target: expected a mapping (kind:, ...), got {target!r}"
        )
    faults = (target or {}).get("faults")
    if faults is not None and not isinstance(faults, list):
        raise ProfileError(
            f"{_locate(docs, ('target', 'faults'))}: target.faults: expected a list of fault "
            f"names, got {faults!r}"
        )


def load_profile(
    ref: str,
    profiles_dir: Path,
    *,
    target: str | None = None,
    extra_faults: list[str] | None = None,
    target_fields: dict[str, Any] | None = None,
) -> LoadedProfile:
    """Load, merge (``extends:``), override (``--target``, ``--site-fault``) and validate."""
    path = resolve_path(ref, profiles_dir)
    docs = _load_chain(path, profiles_dir, [])
    data: dict[str, Any] = {}
    for doc in docs:
        data = _deep_merge(data, doc.data)
    data.pop("extends", None)
    data.setdefault("name", path.stem)
    if target:
        override = target_override(target, profiles_dir)
        if "target" in override:
            data["target"] = override["target"]
        # A section of the wrong type in either file is left for validation to name
        # (one message, file and field), never merged into a traceback.
        base, extra = data.get("known_deviations", []), override.get("known_deviations", [])
        if isinstance(base, list) and isinstance(extra, list):
            data["known_deviations"] = [*base, *extra]
        elif isinstance(base, list):
            data["known_deviations"] = extra
        for section in ("hl7", "dicom"):
            if not override.get(section):
                continue
            if isinstance(override[section], dict) and isinstance(data.get(section) or {}, dict):
                data[section] = _deep_merge(data.get(section) or {}, override[section])
            elif isinstance(data.get(section) or {}, dict):
                data[section] = override[section]
    if isinstance(data.get("target"), dict):
        data["target"].setdefault("kind", "embedded")
    if target_fields or extra_faults:
        _overridable(data, docs)
    if target_fields:
        data["target"] = apply_target_fields(data.get("target") or {}, target_fields)
    if extra_faults:
        tgt = data.get("target") or {}
        if tgt.get("kind", "embedded") != "embedded":
            raise ProfileError(
                f"--site-fault applies to the embedded site only; the target is {tgt.get('kind')!r}"
            )
        data["target"] = {
            "kind": "embedded",
            **tgt,
            "faults": [*tgt.get("faults", []), *extra_faults],
        }
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_errors(exc, docs)) from None
    return LoadedProfile(profile, path, [d.path for d in docs])
