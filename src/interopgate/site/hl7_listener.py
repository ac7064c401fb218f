"""The HL7 side of the reference site: an MLLP listener that feeds the worklist.

It plays the RIS/PACS order filler of IHE RAD SWF: it accepts SIU^S12/S14/S15 (HL7 2.5
ch. 10), ORM^O01 and OMI^O23 (ch. 4, IHE RAD-2/RAD-4) and ADT^A04/A08 (ch. 3). This
module owns the socket side and the order of events for one frame: bytes that are no
HL7 message, a parse, the header's acceptance and the ACKs (site/hl7_ack.py), the
worklist change (site/hl7_orders.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from pydicom.dataset import Dataset

from interopgate.hl7.messages import parse, value
from interopgate.hl7.mllp import Connection, Frame, MLLPListener, decode
from interopgate.site.faults import FaultSet
from interopgate.site.hl7_ack import AckPolicy, Outcome, Rejected, malformed, reject_unparsed
from interopgate.site.hl7_orders import EVENTS, OrderApplication

log = logging.getLogger("interopgate.site.hl7")


class HL7Interface:
    """The site's MLLP listener. ``worklist_add`` / ``worklist_remove`` change the
    site's worklist (ReferenceSite methods), so this module needs no PACS internals."""

    def __init__(
        self,
        worklist_add: Callable[[list[Dataset]], None],
        worklist_remove: Callable[[list[Dataset]], None],
        faults: FaultSet | Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = True,
        cancel: str = "remove",
        cancel_status: str = "CANCELED",
    ) -> None:
        self.faults = faults if isinstance(faults, FaultSet) else FaultSet(faults)
        self.acks = AckPolicy(self.faults, EVENTS)
        self.orders = OrderApplication(
            worklist_add,
            worklist_remove,
            self.faults,
            strict=strict,
            cancel=cancel,
            cancel_status=cancel_status,
        )
        self.received: list[str] = []
        self._lock = threading.Lock()
        self._listener = MLLPListener(self.handle, host, port)

    @property
    def cancel(self) -> str:
        """What a cancel does: "remove" the item, or "mark" it (profile hl7.cancel)."""
        return self.orders.cancel

    @cancel.setter
    def cancel(self, mode: str) -> None:
        self.orders.cancel = mode

    @property
    def cancel_status(self) -> str:
        """The Scheduled Procedure Step Status of a marked cancel (PS3.3 C.4.10)."""
        return self.orders.cancel_status

    @cancel_status.setter
    def cancel_status(self, status: str) -> None:
        self.orders.cancel_status = status

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    def start(self) -> HL7Interface:
        self._listener.start()
        log.info("reference site HL7 (MLLP) on %s:%s", *self.address)
        return self

    def stop(self) -> None:
        self._listener.stop()

    def handle(self, frame: Frame, connection: Connection) -> str | bytes | None:
        """One frame in, the reply out (a message, raw frames, or None for none)."""
        problem = malformed(frame.payload)
        if problem is not None:
            return self.acks.refuse_malformed(problem, connection)
        text = decode(frame.payload)
        with self._lock:
            self.received.append(text)
        try:
            message = parse(text)
        except Exception as exc:
            return reject_unparsed(f"hl7apy cannot parse the message: {exc}")
        try:
            if self.acks.accept(message):
                self.orders.apply(message)
            outcome = Outcome()
        except Rejected as rejected:
            outcome = Outcome.of(rejected)
        except Exception as exc:  # a site bug must still be answered (table 0357: 207)
            log.exception("HL7 message %s could not be applied", value(message, "MSH-10"))
            note = f"application internal error: {type(exc).__name__}: {exc}"
            outcome = Outcome("AE", ("MSH", "207", note))
        return self.acks.answer(message, outcome)
