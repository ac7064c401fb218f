"""pynetdicom event handlers that write what a device sends into a :class:`Session`.

Bound to the emulated site's server (never monkeypatched): the A-ASSOCIATE-RQ as the
device sent it (EVT_PDU_RECV: calling/called AE, every proposed context with its
transfer syntaxes, the Maximum Length Sub-Item, PS3.8 9.3.2 and D.1), the site's answer
(EVT_PDU_SENT, A-ASSOCIATE-AC), how the association ended (A-RELEASE-RQ or A-ABORT,
from which side), and every DIMSE message the device sent (EVT_DIMSE_RECV: the command
set and the data set's bytes), also one on a context the site rejected — pynetdicom
aborts such an association after the message is decoded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pynetdicom import evt

from interopgate.emulate.session import AssociationRecord, Context, Message, Session

# Command fields worth keeping (PS3.7 Annex E); the rest is in the transcript.
_COMMAND_FIELDS = (
    "AffectedSOPClassUID",
    "RequestedSOPClassUID",
    "AffectedSOPInstanceUID",
    "RequestedSOPInstanceUID",
    "MessageID",
    "MessageIDBeingRespondedTo",
    "Priority",
    "ActionTypeID",
    "EventTypeID",
    "Status",
    "MoveOriginatorApplicationEntityTitle",
)
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF = 0x01, 0x02, 0x03, 0x04
A_RELEASE_RQ, A_ABORT = 0x05, 0x07


class Recorder:
    """Fills ``session``; :meth:`handlers` are the server's ``evt_handlers``."""

    def __init__(self, session: Session, note: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.note = note or (lambda text: None)
        self._records: dict[int, AssociationRecord] = {}
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[evt.NotificationEvent, Callable]]:
        return [
            (evt.EVT_PDU_RECV, self._on_pdu_recv),
            (evt.EVT_PDU_SENT, self._on_pdu_sent),
            (evt.EVT_DIMSE_RECV, self._on_dimse),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]

    def record_of(self, assoc) -> AssociationRecord | None:
        with self._lock:
            return self._records.get(id(assoc))

    def _on_pdu_recv(self, event: evt.Event) -> None:
        pdu = event.pdu
        if pdu.pdu_type == A_ASSOCIATE_RQ:
            info = pdu.user_information
            record = AssociationRecord(
                index=0,
                opened=time.time(),
                calling_ae=str(pdu.calling_ae_title).strip(),
                called_ae=str(pdu.called_ae_title).strip(),
                max_pdu=None if info is None else info.maximum_length,
                implementation_uid=str(info.implementation_class_uid or "") if info else "",
                contexts=[
                    Context(
                        item.presentation_context_id,
                        str(item.abstract_syntax),
                        [str(ts) for ts in item.transfer_syntax],
                    )
                    for item in pdu.presentation_context
                ],
            )
            with self._lock:
                record.index = len(self.session.associations)
                self.session.associations.append(record)
                self._records[id(event.assoc)] = record
            return
        record = self.record_of(event.assoc)
        if record is None:
            return
        if pdu.pdu_type == P_DATA_TF:
            record.largest_pdata = max(record.largest_pdata, pdu.pdu_length)
        elif pdu.pdu_type == A_RELEASE_RQ and not record.ending:
            record.ending = "released"
        elif pdu.pdu_type == A_ABORT and not record.ending:
            record.ending = "aborted-by-device"

    def _on_pdu_sent(self, event: evt.Event) -> None:
        record = self.record_of(event.assoc)
        if record is None:
            return
        pdu = event.pdu
        if pdu.pdu_type == A_ASSOCIATE_AC:
            record.established = True
            for item in pdu.presentation_context:
                context = record.context(item.presentation_context_id)
                if context is not None:
                    context.result = item.result_reason
                    context.accepted_syntax = str(item.transfer_syntax or "")
        elif pdu.pdu_type == A_ASSOCIATE_RJ:
            record.ending = "rejected"
        elif pdu.pdu_type == A_ABORT and not record.ending:
            record.ending = "aborted-by-site"

    def _on_dimse(self, event: evt.Event) -> None:
        record = self.record_of(event.assoc)
        message = event.message
        if record is None:
            return
        command = message.command_set
        fields: dict[str, object] = {}
        for keyword in _COMMAND_FIELDS:
            if keyword in command and command[keyword].value is not None:
                value = command[keyword].value
                fields[keyword] = value if isinstance(value, int) else str(value)
        data = message.data_set
        raw = data.getvalue() if data is not None and hasattr(data, "getvalue") else None
        context = record.context(message.context_id)
        name = type(message).__name__.replace("_", "-")
        with self._lock:
            self.session.messages.append(
                Message(
                    association=record.index,
                    time=time.time(),
                    name=name,
                    context_id=message.context_id,
                    command=fields,
                    transfer_syntax=context.accepted_syntax if context else "",
                    data=raw or None,
                )
            )
        self.note(f"recorded {name} on context {message.context_id} (association {record.index})")

    def _on_close(self, event: evt.Event) -> None:
        record = self.record_of(event.assoc)
        if record is not None and not record.ending:
            record.ending = "dropped"
