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


def require_dicom(endpoint: Endpoint, calling_ae: str, promiscuous: bool = False) -> None:
    contexts = [(sop.Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]
    with open_association(endpoint, calling_ae, contexts) as (assoc, negotiation):
        if not negotiation.connected:
            raise TargetError(
                f"cannot reach the DICOM target at {endpoint.host}:{endpoint.port} "
                f"({_why_no_connection(endpoint)}): is it running, and are host and "
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


def _why_no_connection(endpoint: Endpoint) -> str:
    """Ask the OS why, once pynetdicom could not connect: refused, timed out, bad host."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), endpoint.connect_timeout):
            return "the connection opened but the association did not start"
    except socket.gaierror:
        return f"unknown host {endpoint.host!r}"
    except TimeoutError:
        return f"no answer within {endpoint.connect_timeout:g} s"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or str(exc)


def require_mllp(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection to the MLLP port (no message is sent, so the
    target's message log stays clean); an unreachable port is one sentence, no hang."""
    try:
        with socket.create_connection((host, port), timeout):
            return
    except socket.gaierror:
        why = f"unknown host {host!r}"
    except TimeoutError:
        why = f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        why = "connection refused"
    except OSError as exc:
        why = exc.strerror or str(exc)
    raise TargetError(
        f"cannot reach the HL7 (MLLP) target at {host}:{port} ({why}): is its HL7 "
        "listener running, and is hl7_port right?"
    )
