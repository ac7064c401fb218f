"""DICOM on a reassembled TCP stream: upper layer PDUs (PS3.8 9.3), the DIMSE messages
their P-DATA-TF fragments carry (PS3.7 6.3.1, E.1) and the data sets, decoded with
pynetdicom's PDU classes and pydicom.

A stream is DICOM when its client opens with an A-ASSOCIATE-RQ (PDU type 01H, protocol
version 1, PS3.8 9.3.2), on whatever port: a site's DICOM services rarely listen on 104.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import pdu as pdus
from pynetdicom.dsutils import decode as decode_dataset

from interopgate.analysis.reassembly import Payload, Stream, Where
from interopgate.dicom.association import REJECT_REASON

_PDU_CLASSES = {
    0x01: pdus.A_ASSOCIATE_RQ,
    0x02: pdus.A_ASSOCIATE_AC,
    0x03: pdus.A_ASSOCIATE_RJ,
    0x04: pdus.P_DATA_TF,
    0x05: pdus.A_RELEASE_RQ,
    0x06: pdus.A_RELEASE_RP,
    0x07: pdus.A_ABORT_RQ,
}
# PS3.8 table 9-21 (A-ASSOCIATE-RJ result/source/reason) and 9-26 (A-ABORT source/reason).
RJ_RESULT = {1: "rejected-permanent", 2: "rejected-transient"}
RJ_REASON = REJECT_REASON  # PS3.8 table 9-21, one table for the client and the analysis
RJ_SOURCE = {
    1: "DICOM UL service-user",
    2: "DICOM UL service-provider (ACSE)",
    3: "DICOM UL service-provider (presentation)",
}
ABORT_SOURCE = {0: "DICOM UL service-user", 2: "DICOM UL service-provider"}
ABORT_REASON = {
    0: "reason-not-specified",
    1: "unrecognized-PDU",
    2: "unexpected-PDU",
    4: "unrecognized-PDU-parameter",
    5: "unexpected-PDU-parameter",
    6: "invalid-PDU-parameter-value",
}
# PS3.8 9.3.3.2: presentation context result/reason.
CONTEXT_RESULT = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}
# PS3.7 E.1: Command Field values the report names.
COMMANDS = {
    0x0001: "C-STORE-RQ",
    0x8001: "C-STORE-RSP",
    0x0010: "C-GET-RQ",
    0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ",
    0x8020: "C-FIND-RSP",
    0x0021: "C-MOVE-RQ",
    0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ",
    0x8030: "C-ECHO-RSP",
    0x0FFF: "C-CANCEL-RQ",
}
NO_DATASET = 0x0101  # CommandDataSetType: no data set follows (PS3.7 E.1)


@dataclass
class Context:
    id: int
    abstract_syntax: str
    transfer_syntaxes: list[str]
    result: int | None = None  # from the A-ASSOCIATE-AC
    accepted_syntax: str | None = None

    def describe(self) -> str:
        name = UID(self.abstract_syntax).name
        if self.result is None:
            return f"{self.id}: {name} (no answer)"
        if self.result == 0:
            return f"{self.id}: {name} accepted ({UID(self.accepted_syntax or '').name})"
        return f"{self.id}: {name} rejected, result {self.result} ({CONTEXT_RESULT.get(self.result, '?')})"


@dataclass
class Dimse:
    """One DIMSE message: its command set and, if one followed, its data set."""

    where: Where
    from_client: bool
    context_id: int
    command: Dataset
    dataset: Dataset | None = None
    problem: str | None = None  # the data set could not be decoded

    @property
    def name(self) -> str:
        field_ = int(self.command.get("CommandField", -1))
        return COMMANDS.get(field_, f"command 0x{field_:04X}")

    @property
    def message_id(self) -> int | None:
        for keyword in ("MessageID", "MessageIDBeingRespondedTo"):
            if keyword in self.command:
                return int(self.command[keyword].value)
        return None

    @property
    def status(self) -> int | None:
        return int(self.command.Status) if "Status" in self.command else None


@dataclass
class Association:
    stream: Stream
    requested: Where | None = None
    calling_ae: str = ""
    called_ae: str = ""
    contexts: dict[int, Context] = field(default_factory=dict)
    accepted: Where | None = None
    implementation: str = ""  # of the acceptor (A-ASSOCIATE-AC user information)
    rejected: tuple[Where, str] | None = None
    aborted: tuple[Where, str] | None = None
    released: Where | None = None
    messages: list[Dimse] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.calling_ae} -> {self.called_ae} ({self.stream.label})"


def is_dicom(stream: Stream) -> bool:
    """The client's first bytes are an A-ASSOCIATE-RQ header (PS3.8 9.3.2)."""
    head = stream.to_server.assemble().data[:8]
    return len(head) == 8 and head[0] == 0x01 and head[6:8] == b"\x00\x01"


def _pdus(payload: Payload) -> list[tuple[int, bytes, Where]]:
    out, offset, data = [], 0, payload.data
    while offset + 6 <= len(data):
        length = int.from_bytes(data[offset + 2 : offset + 6], "big")
        end = offset + 6 + length
        if end > len(data):
            break
        out.append((data[offset], data[offset:end], payload.where(end - 1)))
        offset = end
    return out


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()


def decode_association(stream: Stream) -> Association:
    """Every PDU of both directions, in time order, into one :class:`Association`."""
    assoc = Association(stream)
    events = [(w, True, t, b) for t, b, w in _pdus(stream.to_server.assemble())]
    events += [(w, False, t, b) for t, b, w in _pdus(stream.to_client.assemble())]
    events.sort(key=lambda e: (e[0].time, e[0].frame))
    fragments: dict[tuple[bool, int, bool], bytearray] = {}
    pending: dict[tuple[bool, int], Dimse] = {}
    for where, from_client, kind, raw in events:
        cls = _PDU_CLASSES.get(kind)
        if cls is None:
            assoc.problems.append(f"{where.label()}: unknown PDU type 0x{kind:02X}")
            continue
        pdu = cls()
        try:
            pdu.decode(raw)
        except Exception as exc:  # a malformed PDU is a finding, not a crash
            assoc.problems.append(f"{where.label()}: undecodable PDU 0x{kind:02X}: {exc}")
            continue
        if kind == 0x01:
            assoc.requested = where
            assoc.calling_ae = _text(pdu.calling_ae_title)
            assoc.called_ae = _text(pdu.called_ae_title)
            for item in pdu.presentation_context:
                assoc.contexts[item.context_id] = Context(
                    item.context_id,
                    str(item.abstract_syntax),
                    [str(ts) for ts in item.transfer_syntax],
                )
        elif kind == 0x02:
            assoc.accepted = where
            for item in pdu.presentation_context:
                context = assoc.contexts.setdefault(
                    item.context_id, Context(item.context_id, "", [])
                )
                context.result = item.result
                context.accepted_syntax = (
                    str(item.transfer_syntax) if item.transfer_syntax else None
                )
            info = pdu.user_information
            if info is not None:
                assoc.implementation = " ".join(
                    filter(
                        None,
                        [
                            str(info.implementation_class_uid or ""),
                            _text(info.implementation_version_name or ""),
                        ],
                    )
                )
        elif kind == 0x03:
            reason = RJ_REASON.get((pdu.source, pdu.reason_diagnostic), str(pdu.reason_diagnostic))
            assoc.rejected = (
                where,
                f"{RJ_RESULT.get(pdu.result, pdu.result)}, source {RJ_SOURCE.get(pdu.source, pdu.source)}, "
                f"reason {reason} (PS3.8 9.3.4)",
            )
        elif kind == 0x07:
            assoc.aborted = (
                where,
                f"A-ABORT by the {'client' if from_client else 'server'}: source "
                f"{ABORT_SOURCE.get(pdu.source, pdu.source)}, reason "
                f"{ABORT_REASON.get(pdu.reason_diagnostic, pdu.reason_diagnostic)} (PS3.8 9.3.8)",
            )
        elif kind == 0x06:
            assoc.released = where
        elif kind == 0x04:
            for pdv in pdu.presentation_data_value_items:
                value = pdv.presentation_data_value
                header, body = value[0], value[1:]
                is_command, last = bool(header & 0x01), bool(header & 0x02)
                key = (from_client, pdv.presentation_context_id, is_command)
                fragments.setdefault(key, bytearray()).extend(body)
                if last:
                    _complete(assoc, pending, key, bytes(fragments.pop(key)), where)
    return assoc


def _complete(assoc: Association, pending, key, data: bytes, where: Where) -> None:
    from_client, context_id, is_command = key
    if is_command:
        try:
            command = decode_dataset(io.BytesIO(data), True, True)
        except Exception as exc:
            assoc.problems.append(f"{where.label()}: undecodable command set: {exc}")
            return
        message = Dimse(where, from_client, context_id, command)
        assoc.messages.append(message)
        if int(command.get("CommandDataSetType", NO_DATASET)) != NO_DATASET:
            pending[(from_client, context_id)] = message
        return
    message = pending.pop((from_client, context_id), None)
    if message is None:
        assoc.problems.append(f"{where.label()}: a data set without its command set")
        return
    message.where = where
    context = assoc.contexts.get(context_id)
    syntax = UID((context.accepted_syntax if context else None) or "1.2.840.10008.1.2")
    try:
        message.dataset = decode_dataset(
            io.BytesIO(data),
            syntax.is_implicit_VR,
            syntax.is_little_endian,
            syntax.is_deflated,
        )
        # Decode every element now: a broken value shows here, not in the report.
        for _ in message.dataset.iterall():
            pass
    except Exception as exc:
        message.problem = f"undecodable data set ({syntax.name}): {exc}"
