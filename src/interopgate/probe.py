"""Target discovery: ask a live system what it does, as an integration engineer would.

``interopgate probe dicom://AE@host:port [--hl7-port P]`` proposes a catalogue of SOP
classes, one presentation context per transfer syntax (PS3.8 9.3.2.2), and reads the
A-ASSOCIATE-AC: which classes are accepted and with which transfer syntaxes, the peer's
maximum PDU (PS3.8 D.1), Implementation Class UID and Version Name (PS3.7 D.3.3.2). Two
more associations ask whether the called AE title is checked (PS3.8 9.3.4) and in which
case (PS3.5 6.2); with an HL7 port, one SIU^S12 (or ORM^O01) built by the project's
message factory asks whether the MLLP port acknowledges, and an accepted one is
cancelled again (S15 / ORC-1 CA).

What comes back is evidence, not a verdict: the draft target profile lists what was
accepted (``provides:``) and how the AE title was treated, and no known deviation.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from interopgate.dicom import uids
from interopgate.dicom.association import Endpoint, open_association
from interopgate.errors import InteropGateError
from interopgate.profile import ANY_STORAGE
from interopgate.targets.preflight import _why_no_connection

CALLING_AE = "INTEROPGATE"
WRONG_CALLED_AE = "IG_NO_SUCH_AE"

# The catalogue: services by the names a profile's provides: takes.
SERVICES = [
    "Verification",
    "ModalityWorklistFind",
    "StudyRootFind",
    "StudyRootMove",
    "StudyRootGet",
    "PatientRootFind",
    "PatientRootMove",
    "PatientRootGet",
    "ModalityPerformedProcedureStep",
    "StorageCommitmentPushModel",
]
# Common storage classes, and two an image archive takes and a modality's SCP rarely
# does: all accepted is written as AnyStorage.
STORAGE = [
    "ComputedRadiographyImageStorage",
    "DigitalXRayImageStorageForPresentation",
    "CTImageStorage",
    "MRImageStorage",
    "SecondaryCaptureImageStorage",
    "UltrasoundImageStorage",
    "RTPlanStorage",
    "EncapsulatedPDFStorage",
]
NATIVE = [ImplicitVRLittleEndian, ExplicitVRLittleEndian]
IMAGE_SYNTAXES = [
    *NATIVE,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEG2000Lossless,
    RLELossless,
]


@dataclass
class Findings:
    endpoint: Endpoint
    accepted: dict[str, list[str]] = field(default_factory=dict)  # class name -> TS UIDs
    rejected: dict[str, int] = field(default_factory=dict)  # class name -> result
    max_pdu: int | None = None
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    any_called_ae: bool | None = None
    other_case_accepted: bool | None = None
    hl7: str | None = None  # what the MLLP port did, one line
    hl7_port: int | None = None
    hl7_ack: str | None = None  # MSA-1 of the ACK, when one came

    def provides(self) -> list[str]:
        services = [name for name in SERVICES if name in self.accepted]
        storage = [name for name in STORAGE if name in self.accepted]
        if len(storage) == len(STORAGE):
            return [*services, ANY_STORAGE]
        return [*services, *storage]


def parse_address(spec: str) -> Endpoint:
    """``dicom://AE@host:port`` → an Endpoint (the called AE is required)."""
    match = re.fullmatch(r"dicom://([^@/]+)@([^:/]+):(\d+)/?", spec)
    if not match:
        raise InteropGateError(f"{spec!r}: expected dicom://CALLED_AE@host:port")
    ae, host, port = match.groups()
    if not 1 <= int(port) <= 65535 or len(ae) > 16:
        raise InteropGateError(f"{spec!r}: AE title of 1-16 characters, port 1-65535")
    return Endpoint(host, int(port), ae, connect_timeout=5.0, dimse_timeout=10.0)


def _contexts() -> list[tuple[str, list[str]]]:
    """One presentation context per (class, transfer syntax): the answer to each says
    which syntax the acceptor takes for that class (PS3.8 9.3.3.2)."""
    contexts = []
    for name in SERVICES:
        contexts += [(uids.resolve(name), [ts]) for ts in NATIVE]
    for name in STORAGE:
        contexts += [(uids.resolve(name), [ts]) for ts in IMAGE_SYNTAXES]
    return contexts


def probe_dicom(endpoint: Endpoint, calling_ae: str = CALLING_AE) -> Findings:
    findings = Findings(endpoint)
    try:
        socket.getaddrinfo(endpoint.host, endpoint.port)
    except socket.gaierror:
        raise InteropGateError(f"cannot reach {endpoint}: unknown host {endpoint.host!r}") from None
    names = {uids.resolve(n): n for n in [*SERVICES, *STORAGE]}
    with open_association(endpoint, calling_ae, _contexts()) as (assoc, negotiation):
        if not negotiation.connected:
            why = _why_no_connection(endpoint.host, endpoint.port, endpoint.connect_timeout)
            raise InteropGateError(
                f"cannot reach {endpoint.host}:{endpoint.port} "
                f"({why or 'the connection did not open'})"
            )
        if negotiation.rejection is not None:
            raise InteropGateError(
                f"{endpoint} refused an association from {calling_ae}: {negotiation.rejection}"
            )
        if not negotiation.established:
            raise InteropGateError(f"{endpoint}: {negotiation.outcome()}")
        findings.max_pdu = negotiation.peer_max_pdu
        findings.implementation_class_uid = str(assoc.acceptor.implementation_class_uid or "")
        findings.implementation_version_name = str(assoc.acceptor.implementation_version_name or "")
        answers = {c.context_id: c for c in negotiation.accept or []}
        for context_id, abstract_syntax, syntaxes in negotiation.proposed:
            name = names[abstract_syntax]
            answer = answers.get(context_id)
            if answer is not None and answer.result == 0:
                findings.accepted.setdefault(name, []).append(answer.transfer_syntax or syntaxes[0])
            elif name not in findings.accepted:
                findings.rejected[name] = answer.result if answer is not None else -1
    for name in findings.accepted:
        findings.rejected.pop(name, None)
    findings.any_called_ae = _accepted(endpoint, calling_ae, WRONG_CALLED_AE)
    other = endpoint.called_ae.strip().swapcase()
    if not findings.any_called_ae and other != endpoint.called_ae.strip():
        findings.other_case_accepted = _accepted(endpoint, calling_ae, other)
    return findings


def _accepted(endpoint: Endpoint, calling_ae: str, called_ae: str) -> bool:
    contexts = [(uids.resolve("Verification"), NATIVE)]
    with open_association(endpoint, calling_ae, contexts, called_ae=called_ae) as (_, n):
        return n.established


def probe_hl7(findings: Findings, host: str, port: int, message_type: str) -> None:
    """One valid create (SIU^S12 or ORM^O01 NW) from the project's message factory; an
    accepted one is cancelled (S15 / ORC-1 CA) so a test RIS keeps no appointment."""
    findings.hl7_port = port
    why = _why_no_connection(host, port, 5.0)
    if why is not None:
        findings.hl7 = f"no MLLP listener at {host}:{port} ({why})"
        return
    factory = _message_factory(message_type)
    if factory is None:
        findings.hl7 = (
            "TCP connection opens; no message sent (the HL7 message factory, fixtures/, "
            "comes with a source checkout)"
        )
        return
    from interopgate.hl7.messages import Ack
    from interopgate.hl7.mllp import MLLPClient

    patient, appointment = factory.patient(), factory.appointment()
    create = factory.build(message_type, patient, appointment)
    with MLLPClient(host, port, connect_timeout=5.0, read_timeout=10.0) as client:
        exchange = client.send(create.text)
        if exchange.reply_text is None:
            findings.hl7 = f"{message_type} sent: {exchange.problem or 'no ACK'}"
            return
        try:
            ack = Ack.read(exchange.reply_text)
        except ValueError as exc:
            findings.hl7 = f"{message_type} sent: the reply is not an HL7 message ({exc})"
            return
        findings.hl7_ack = ack.msa_1
        findings.hl7 = (
            f"{message_type} (MSH-10 {create.control_id}) answered MSA-1 {ack.msa_1 or '(empty)'} "
            f"in {exchange.elapsed * 1000:.0f} ms"
        )
        if ack.msa_1 in ("AA", "CA"):
            cancel_type = "SIU^S15" if message_type.startswith("SIU") else message_type
            options = {} if cancel_type == "SIU^S15" else {"order_control": "CA"}
            cancel = factory.build(cancel_type, patient, appointment, **options)
            reply = client.send(cancel.text)
            code = Ack.read(reply.reply_text).msa_1 if reply.reply_text else "no ACK"
            findings.hl7 += f"; cancelled again ({cancel_type}: {code})"


def _message_factory(message_type: str):
    """The project's HL7 message factory (fixtures/hl7_messages.py) from the checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "fixtures" / "hl7_messages.py").is_file():
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from fixtures.hl7_messages import HL7MessageFactory
    from fixtures.patients import make_faker

    return HL7MessageFactory(make_faker(int(dt.datetime.now().timestamp())), "2.5")


def table(findings: Findings) -> str:
    """What was found, for people."""
    lines = [f"interopgate probe of {findings.endpoint}"]
    width = max(len(n) for n in [*SERVICES, *STORAGE])
    for name in [*SERVICES, *STORAGE]:
        if name in findings.accepted:
            syntaxes = ", ".join(uids.label(ts).split(" (")[0] for ts in findings.accepted[name])
            lines.append(f"  {name:{width}}  accepted: {syntaxes}")
        else:
            result = findings.rejected.get(name, -1)
            text = f"result {result}" if result >= 0 else "no answer"
            lines.append(f"  {name:{width}}  rejected ({text})")
    lines.append(f"  max PDU: {findings.max_pdu or 'unlimited/unsent'}")
    lines.append(
        f"  implementation: class UID {findings.implementation_class_uid or '-'}, version "
        f"{findings.implementation_version_name or '-'}"
    )
    if findings.any_called_ae:
        called = f"accepts any called AE (also {WRONG_CALLED_AE!r})"
    else:
        called = f"rejects an unknown called AE ({WRONG_CALLED_AE!r})"
        if findings.other_case_accepted is not None:
            case = "accepted" if findings.other_case_accepted else "rejected"
            called += f"; the called AE in another case: {case}"
    lines.append(f"  called AE: {called}")
    if findings.hl7 is not None:
        lines.append(f"  HL7 port {findings.hl7_port}: {findings.hl7}")
    return "\n".join(lines)


def draft_profile(findings: Findings) -> str:
    """A target profile the user extends (``pytest --profile=X --target=this.yaml``)."""
    endpoint = findings.endpoint
    target: dict[str, object] = {
        "kind": "live",
        "host": endpoint.host,
        "dicom_port": endpoint.port,
        "called_ae": endpoint.called_ae,
    }
    if findings.hl7_port is not None and findings.hl7_ack is not None:
        target["hl7_port"] = findings.hl7_port
    target["accepts_any_called_ae"] = bool(findings.any_called_ae)
    target["provides"] = findings.provides()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"# Draft target profile written by `interopgate probe` on {when}: what {endpoint}",
        "# accepted when asked (evidence, not a verdict). Check it against the system's",
        "# conformance statement before relying on it, then extend it (hl7: mapping,",
        "# known_deviations: with reasons once a run has observed them).",
        f"# max PDU {findings.max_pdu}, implementation class UID "
        f"{findings.implementation_class_uid or '-'}, version "
        f"{findings.implementation_version_name or '-'}",
    ]
    if findings.other_case_accepted:
        header.append("# the called AE title was also accepted in another case (PS3.5 6.2)")
    if findings.hl7 is not None:
        header.append(f"# HL7 port {findings.hl7_port}: {findings.hl7}")
    body = {"description": f"{endpoint} as probed on {when}", "target": target}
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False)
