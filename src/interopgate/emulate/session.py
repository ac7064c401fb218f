"""What the emulated site recorded of a device: its associations and DIMSE messages.

Kept as data (no pynetdicom objects), so a session is judged the same whether it was
recorded a second ago or loaded from a folder (``session.json`` and one ``.bin`` file
per data set, the bytes as they arrived in the message's transfer syntax, PS3.7 6.3.1).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID

from interopgate.errors import InteropGateError

SESSION_FILE = "session.json"


@dataclass
class Context:
    """One proposed presentation context (PS3.8 9.3.2.2) and what the site answered."""

    id: int
    abstract_syntax: str
    transfer_syntaxes: list[str]
    result: int | None = None  # 0 accepted, 1-4 rejected (PS3.8 Table 9-18)
    accepted_syntax: str = ""


@dataclass
class AssociationRecord:
    """One association the device requested (A-ASSOCIATE-RQ, PS3.8 9.3.2)."""

    index: int
    opened: float
    calling_ae: str = ""
    called_ae: str = ""
    max_pdu: int | None = None  # Maximum Length Sub-Item (PS3.8 D.1); 0 = unlimited
    implementation_uid: str = ""
    contexts: list[Context] = field(default_factory=list)
    established: bool = False
    # released | aborted-by-device | aborted-by-site | dropped | "" (still open)
    ending: str = ""
    largest_pdata: int = 0  # the longest P-DATA-TF the device sent (PDU length)

    def context(self, context_id: int) -> Context | None:
        return next((c for c in self.contexts if c.id == context_id), None)


@dataclass
class Message:
    """One DIMSE message the device sent (a request, or the response to the site's
    N-EVENT-REPORT), its command fields and its data set's bytes."""

    association: int
    time: float
    name: str  # pynetdicom's class name with dashes, e.g. C-FIND-RQ
    context_id: int
    command: dict[str, object]
    transfer_syntax: str = ""
    data: bytes | None = None

    @property
    def sop_class(self) -> str:
        return str(
            self.command.get("AffectedSOPClassUID")
            or self.command.get("RequestedSOPClassUID")
            or ""
        )

    @property
    def sop_instance(self) -> str:
        return str(
            self.command.get("AffectedSOPInstanceUID")
            or self.command.get("RequestedSOPInstanceUID")
            or ""
        )

    def dataset(self) -> Dataset | None:
        """The data set decoded in the context's transfer syntax (None: there was none)."""
        if self.data is None:
            return None
        syntax = UID(self.transfer_syntax or "1.2.840.10008.1.2")
        raw = self.data
        if syntax.is_deflated:
            import zlib

            raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        return read_dataset(BytesIO(raw), syntax.is_implicit_VR, syntax.is_little_endian)


@dataclass
class Session:
    """The recording: the site's identity, what it served, what the device did."""

    site_ae: str
    site_address: tuple[str, int]
    started: float
    ended: float | None = None
    rejected_classes: list[str] = field(default_factory=list)
    associations: list[AssociationRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    served: list[dict] = field(default_factory=list)  # worklist items, DICOM JSON (PS3.18 F)
    commitment_report: str = "same-association"
    # Storage Commitment reports sent on a new association (PS3.4 J.3.3.1.2): the
    # Transaction UID, the device's response status (None: not delivered) and why not.
    new_association_reports: list[dict] = field(default_factory=list)

    def served_items(self) -> list[Dataset]:
        """The served worklist items as datasets (parsed from DICOM JSON once: the device
        checks ask for them again and again; a copy of the list, the same datasets)."""
        cached = self.__dict__.get("_served_items")
        if cached is None or cached[0] != len(self.served):
            cached = (len(self.served), [Dataset.from_json(item) for item in self.served])
            self.__dict__["_served_items"] = cached
        return list(cached[1])

    def of(self, name: str) -> list[Message]:
        return [m for m in self.messages if m.name == name]

    def association(self, index: int) -> AssociationRecord:
        return self.associations[index]

    # ------------------------------------------------------------------ files
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "data"
        data.mkdir(exist_ok=True)
        messages = []
        for number, message in enumerate(self.messages):
            entry = asdict(message)
            if message.data is not None:
                name = f"{number:05d}-{message.name}.bin"
                (data / name).write_bytes(message.data)
                entry["data"] = name
            messages.append(entry)
        document = asdict(self)
        document["messages"] = messages
        path = folder / SESSION_FILE
        path.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> Session:
        path = folder / SESSION_FILE if folder.is_dir() else folder
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            messages = []
            for entry in document.pop("messages"):
                name = entry.get("data")
                entry["data"] = (path.parent / "data" / name).read_bytes() if name else None
                messages.append(Message(**entry))
            associations = [
                AssociationRecord(
                    **{**a, "contexts": [Context(**c) for c in a.get("contexts", [])]}
                )
                for a in document.pop("associations")
            ]
            document["site_address"] = tuple(document["site_address"])
            return cls(**document, associations=associations, messages=messages)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InteropGateError(f"{path}: not a recorded emulation session ({exc})") from None
