"""Pre-flight: one association with Verification before any check runs, and one TCP
connection to the HL7 (MLLP) port when the target has one.

An unreachable host, a refused connection or a rejected association would otherwise
fail every check with the same cause; this says it once, in one sentence.
"""

from __future__ import annotations

import socket

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import sop_class as sop

from interopgate.dicom.association import Endpoint, open_association
from interopgate.errors import TargetError


def require(endpoint: Endpoint, calling_ae: str, hl7_address: tuple[str, int] | None) -> None:
    """Every interface of a live target, one line per problem, in one TargetError."""
    problems = []
    try:
        require_dicom(endpoint, calling_ae)
    except TargetError as exc:
        problems.append(str(exc))
    if hl7_address is not None:
        problem = hl7_problem(*hl7_address, timeout=endpoint.connect_timeout)
        if problem:
            problems.append(problem)
    if problems:
        raise TargetError("\n".join(problems))


def hl7_problem(host: str, port: int, timeout: float = 5.0) -> str | None:
    """MLLP has no echo (HL7 2.5 Appendix C): a TCP connection that opens is all a
    pre-flight can ask without sending a message into a hospital system."""
    why = _why_no_connection(host, port, timeout)
    if why is None:
        return None
    return (
        f"cannot reach the HL7 (MLLP) target at {host}:{port} ({why}): is its interface "
        "engine listening, and is hl7_port right?"
    )


def require_dicom(endpoint: Endpoint, calling_ae: str, promiscuous: bool = False) -> None:
    contexts = [(sop.Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]
    with open_association(endpoint, calling_ae, contexts) as (assoc, negotiation):
        if not negotiation.connected:
            raise TargetError(
                f"cannot reach the DICOM target at {endpoint.host}:{endpoint.port} "
                f"({_why(endpoint)}): is it running, and are host and "
                "dicom_port right?"
            )
        if negotiation.rejection:
            raise TargetError(
                f"the DICOM target at {endpoint.host}:{endpoint.port} refused an association "
                f"from {calling_ae} to {endpoint.called_ae}: {negotiation.rejection}; "
                "check called_ae and the device's AE title in the target's configuration"
            )
        if not assoc.is_established:
            raise TargetError(
                f"the DICOM target at {endpoint.host}:{endpoint.port} closed the connection "
                "during association negotiation (is it a DICOM port?)"
            )


def _why_no_connection(host: str, port: int, timeout: float) -> str | None:
    """Ask the OS why a connection fails: refused, timed out, bad host (None: it opens)."""
    try:
        with socket.create_connection((host, port), timeout):
            return None
    except socket.gaierror:
        return f"unknown host {host!r}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or str(exc)


def _why(endpoint: Endpoint) -> str:
    why = _why_no_connection(endpoint.host, endpoint.port, endpoint.connect_timeout)
    return why or "the connection opened but the association did not start"
