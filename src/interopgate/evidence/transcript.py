"""Wire evidence: a transcript of every PDU and DIMSE message a check exchanged.

The transcript is filled from pynetdicom's notification events (EVT_PDU_SENT/RECV,
EVT_DIMSE_SENT/RECV, EVT_CONN_OPEN/CLOSE) — bound as handlers, never monkeypatched —
and written to ``reports/evidence/<check>.txt`` when a check fails, so the failure
message can point a vendor at what was exchanged: a verdict a vendor accepts names the
clause, expected vs observed, and the wire evidence. The exact bytes go to the check's
pcapng next to it (evidence/capture.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pynetdicom import evt

if TYPE_CHECKING:
    from interopgate.evidence.capture import Capture

_PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}


class Transcript:
    """Timestamped lines; ``handlers()`` gives the pynetdicom ``evt_handlers`` to bind.

    With a :class:`~interopgate.evidence.capture.Capture` attached (``capture``), the
    same handlers also record the association's raw bytes for the check's pcapng.
    """

    def __init__(
        self, title: str, path: Path | None = None, capture: Capture | None = None
    ) -> None:
        self.title = title
        self.path = path
        self.capture = capture
        self._notes: list[tuple[float, str | Callable[[], str]]] = []
        self._start = time.monotonic()

    def note(self, text: str | Callable[[], str]) -> None:
        """Add a line (or lines) stamped with the time since the transcript began. A
        callable is called only when the transcript is read, i.e. when a check fails:
        the full text of every dataset a poll returned is costly, and most checks pass."""
        self._notes.append((time.monotonic() - self._start, text))

    @property
    def lines(self) -> list[str]:
        return [line for at, text in self._notes for line in _stamped(at, text)]

    def noted_lines(self) -> list[str]:
        """The lines noted as text (what a callable would give is left out, not made)."""
        return [
            line for at, text in self._notes if isinstance(text, str) for line in _stamped(at, text)
        ]

    def handlers(self) -> list[tuple[evt.NotificationEvent, object]]:
        wire = self.capture.dicom_handlers() if self.capture is not None else []
        return [
            *wire,
            (evt.EVT_CONN_OPEN, self._on_conn_open),
            (evt.EVT_CONN_CLOSE, lambda e: self.note("connection closed")),
            (evt.EVT_PDU_SENT, lambda e: self._on_pdu(">>", e)),
            (evt.EVT_PDU_RECV, lambda e: self._on_pdu("<<", e)),
            (evt.EVT_DIMSE_SENT, lambda e: self._on_dimse(">>", e)),
            (evt.EVT_DIMSE_RECV, lambda e: self._on_dimse("<<", e)),
        ]

    def _on_conn_open(self, event: evt.Event) -> None:
        self.note(f"connection open to {event.address[0]}:{event.address[1]}")

    def _on_pdu(self, direction: str, event: evt.Event) -> None:
        pdu = event.pdu
        kind = _PDU_NAMES.get(pdu.pdu_type, f"PDU 0x{pdu.pdu_type:02x}")
        if pdu.pdu_type == 0x04:
            sizes = ", ".join(
                f"ctx {pdv.presentation_context_id} {len(pdv.presentation_data_value)} bytes"
                f"{' last' if pdv.presentation_data_value[0] & 0x02 else ''}"
                f"{' command' if pdv.presentation_data_value[0] & 0x01 else ' data'}"
                for pdv in pdu.presentation_data_value_items
            )
            self.note(f"{direction} {kind} length {pdu.pdu_length}: {sizes}")
        else:
            self.note(f"{direction} {kind} length {pdu.pdu_length}{_summary(pdu)}")

    def _on_dimse(self, direction: str, event: evt.Event) -> None:
        message = event.message
        name = type(message).__name__.replace("_", "-")
        command = message.command_set
        extra = f" status 0x{int(command.Status):04X}" if "Status" in command else ""
        self.note(f"{direction} {name}{extra}")

    def text(self) -> str:
        return f"# {self.title}\n" + "\n".join(self.lines) + "\n"

    def write(self) -> Path | None:
        if self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text(), encoding="utf-8")
        return self.path


def _stamped(at: float, text: str | Callable[[], str]) -> list[str]:
    stamp = f"{at:8.3f}s"
    body = text() if callable(text) else text
    return [
        f"{stamp if i == 0 else ' ' * len(stamp)}  {line}"
        for i, line in enumerate(body.rstrip().splitlines())
    ]


def evidence_name(nodeid: str) -> str:
    """A file name for a test node id: ``suites/dicom/x.py::test[a]`` → ``x-test-a``."""
    tail = nodeid.split("/")[-1].replace(".py::", "-")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tail).strip("-")


def _summary(pdu) -> str:
    """The fields of an association PDU a verdict turns on (PS3.8 9.3.2-9.3.4), one
    context per line; the full byte-level dump is what Wireshark is for."""
    from pydicom.uid import UID

    lines: list[str] = []
    if pdu.pdu_type in (0x01, 0x02):
        lines.append(f"called {pdu.called_ae_title!r}, calling {pdu.calling_ae_title!r}")
        for item in pdu.presentation_context:
            if pdu.pdu_type == 0x01:
                syntaxes = ", ".join(UID(str(ts)).name for ts in item.transfer_syntax)
                lines.append(
                    f"context {item.presentation_context_id}: "
                    f"{UID(str(item.abstract_syntax)).name} [{syntaxes}]"
                )
            else:
                ts = UID(str(item.transfer_syntax)).name if item.transfer_syntax else "-"
                lines.append(
                    f"context {item.presentation_context_id}: result {item.result_reason}"
                    + (f" ({ts})" if item.result_reason == 0 else "")
                )
        info = pdu.user_information
        if info is not None:
            lines.append(
                f"max PDU {info.maximum_length}, implementation "
                f"{info.implementation_class_uid} {info.implementation_version_name or ''}"
            )
    elif pdu.pdu_type == 0x03:
        lines.append(f"result {pdu.result}, source {pdu.source}, reason {pdu.reason_diagnostic}")
    elif pdu.pdu_type == 0x07:
        lines.append(f"source {pdu.source}, reason {pdu.reason_diagnostic}")
    return "".join("\n      " + line for line in lines)
