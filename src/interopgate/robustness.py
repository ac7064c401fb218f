"""Bad input for the target robustness suite: malformed PDUs and MLLP frames, sent raw.

PS3.8 Annex A (Table A-2) says what an association acceptor does with a PDU it cannot
use: an unrecognised or invalid PDU (Evt19) or a P-DATA-TF before any association
(Evt10 in Sta2) ends in an A-ABORT (AA-1 / AA-8) or, for an A-ASSOCIATE-RQ it will not
take, an A-ASSOCIATE-RJ (9.3.4) -- and in every case the acceptor goes on serving other
associations. HL7 2.5 §2.9 and the MLLP release 1 framing (Appendix C.4) say the same
for an HL7 interface: a message it cannot read is refused (AR/AE) or ignored, never the
end of the listener.

The PDUs are built with pynetdicom's PDU classes and DIMSE message encoder and then
mutated as bytes where the malformation is one no class can express (a 17-byte AE title
field, a protocol version without bit 0, a PDV length beyond its PDU, an element length
beyond its data set). Those mutations, and :func:`exchange`'s raw socket, are written
by hand because a conforming library refuses to send such bytes -- that is the point.
Variations come from hypothesis strategies drawn with a fixed, printed seed
(``--robustness-seed``), so a killing case can be replayed.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, TypeAlias

from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
from pynetdicom import dimse_messages as dimse
from pynetdicom import dimse_primitives as primitives
from pynetdicom.dsutils import encode as encode_dataset
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, P_DATA_TF
from pynetdicom.pdu_items import MaximumLengthSubItem
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    P_DATA,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
    SOPClassExtendedNegotiation,
)
from pynetdicom.presentation import PresentationContext

from interopgate.dicom.association import Rejection
from interopgate.dicom.query import MODELS, InformationModel
from interopgate.hl7.mllp import CR, FS, VT, Exchange, field_of

if TYPE_CHECKING:  # hypothesis is imported where cases are drawn: ~0.2 s a run otherwise
    from hypothesis import strategies as st

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # DICOM Application Context Name (PS3.7 A.2.1)
VERIFICATION = "1.2.840.10008.1.1"
PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}
ABORT_SOURCE = {0: "service-user", 1: "reserved", 2: "service-provider"}
# Offsets in an A-ASSOCIATE-RQ (PS3.8 Table 9-11).
VERSION_AT, CALLED_AT, CALLING_AT, AE_FIELD = 6, 10, 26, 16
ANSWER_LIMIT = 1 << 20  # at most this much of an answer PDU is read
# A Patient ID no target holds: the known-good query is valid and cheap, its answer 0000H.
NO_SUCH_PATIENT = "IG-ROBUSTNESS-NONE"


def find_model(profile) -> InformationModel | None:
    """The C-FIND model the known-good query uses: the worklist where the target
    provides it, else the first of the profile's models it provides."""
    names = sorted(
        (n for n in profile.dicom.find.information_models if n in MODELS),
        key=lambda n: n != "worklist",
    )
    for name in names:
        if profile.target_provides(MODELS[name].sop_class):
            return MODELS[name]
    return None


# ---------------------------------------------------------------- what the target answered


@dataclass(frozen=True)
class Answer:
    """What came back to one bad input: a PDU, a close, a reset, or nothing in time."""

    kind: str  # a PDU name, "closed", "reset", "refused", "nothing", "no AC", or an HL7 ACK
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} ({self.detail})" if self.detail else self.kind

    @property
    def accepted(self) -> bool:
        return self.kind == "A-ASSOCIATE-AC"


@dataclass(frozen=True)
class Case:
    """One bad input. ``build`` gets the max PDU length the target announced when the
    case runs on an established association (``after_ac``), else None."""

    kind: str
    what: str
    build: Callable[[int | None], bytes]
    after_ac: bool = False

    def __str__(self) -> str:
        return f"{self.kind}: {self.what}"


def _read(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(min(size - len(data), 65536))
        if not chunk:
            raise ConnectionAbortedError("closed")
        data += chunk
    return bytes(data)


def read_answer(sock: socket.socket, wait: float) -> tuple[Answer, bytes]:
    """The next PDU from the target within ``wait`` s, decoded with pynetdicom where it
    is one of the PDUs an acceptor may send (PS3.8 9.3), and its bytes."""
    deadline = time.monotonic() + wait
    try:
        header = _read(sock, 6, deadline)
        length = int.from_bytes(header[2:6], "big")
        body = _read(sock, min(length, ANSWER_LIMIT), deadline)
    except TimeoutError:
        return Answer("nothing", f"no PDU within {wait:g} s"), b""
    except ConnectionAbortedError:
        return Answer("closed", "the target closed the connection"), b""
    except OSError as exc:
        return Answer("reset", exc.strerror or str(exc)), b""
    pdu = header + body
    name = PDU_NAMES.get(pdu[0], f"unknown PDU type {pdu[0]:02X}H")
    try:
        if pdu[0] == 0x03:
            rj = A_ASSOCIATE_RJ()
            rj.decode(pdu)
            return Answer(name, str(Rejection(rj.result, rj.source, rj.reason_diagnostic))), pdu
        if pdu[0] == 0x07:
            abort = A_ABORT_RQ()
            abort.decode(pdu)
            source = ABORT_SOURCE.get(abort.source, "?")
            return Answer(
                name, f"source {abort.source} ({source}), reason {abort.reason_diagnostic}"
            ), pdu
        if pdu[0] == 0x04:
            return Answer(name, f"{length} bytes{_status_of(pdu)}"), pdu
    except Exception as exc:  # an answer the library cannot decode is itself the finding
        return Answer(name, f"undecodable: {exc}"), pdu
    return Answer(name, f"{length} bytes"), pdu


def _status_of(pdu: bytes) -> str:
    """ ", status XXXXH" when the P-DATA-TF carries a command set with (0000,0900)."""
    marker = bytes.fromhex("0000 0009 02000000")  # Status, US, length 2 (implicit VR LE)
    at = pdu.find(marker)
    if at < 0 or at + 10 > len(pdu):
        return ""
    return f", status {int.from_bytes(pdu[at + 8 : at + 10], 'little'):04X}H"


def max_length_of(ac: bytes) -> int | None:
    """The Maximum Length Received the AC announces (PS3.8 D.1), 0 meaning unlimited."""
    accept = A_ASSOCIATE_AC()
    accept.decode(ac)
    for sub in accept.user_information.user_data if accept.user_information else []:
        if isinstance(sub, MaximumLengthSubItem):
            return sub.maximum_length_received
    return None


def exchange(
    address: tuple[str, int], case: Case, handshake: bytes, *, wait: float, connect_timeout: float
) -> Answer:
    """Open a TCP connection, (for ``after_ac`` cases, associate with ``handshake``
    first), send the case's bytes and read what comes back. The connection is aborted
    and closed afterwards, whatever came."""
    try:
        sock = socket.create_connection(address, timeout=connect_timeout)
    except OSError as exc:
        return Answer("refused", f"no TCP connection: {exc.strerror or exc}")
    with contextlib.closing(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        announced = None
        try:
            if case.after_ac:
                sock.sendall(handshake)
                answer, pdu = read_answer(sock, wait)
                if not answer.accepted:
                    return Answer("no AC", f"the valid A-ASSOCIATE-RQ got {answer}")
                announced = max_length_of(pdu)
            sock.sendall(case.build(announced))
        except OSError as exc:
            return Answer("reset", f"while sending: {exc.strerror or exc}")
        answer, _ = read_answer(sock, wait)
        with contextlib.suppress(OSError):
            sock.sendall(_abort())
        return answer


# ---------------------------------------------------------------- PDUs from pynetdicom


def _abort() -> bytes:
    """An A-ABORT from the service user (PS3.8 9.3.8): the harness leaves."""
    abort = A_ABORT_RQ()
    abort.source, abort.reason_diagnostic = 0, 0
    return abort.encode()


def associate_rq(
    calling: str,
    called: str,
    contexts: Iterable[tuple[str, list[str]]],
    max_pdu: int = 16384,
    extended: Iterable[tuple[str, bytes]] = (),
) -> bytes:
    """A well-formed A-ASSOCIATE-RQ (PS3.8 9.3.2) from pynetdicom's primitive and PDU;
    ``extended`` adds SOP Class Extended Negotiation sub-items (PS3.7 D.3.3.5) to its
    User Information item."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    length = MaximumLengthNotification()
    length.maximum_length_received = max_pdu
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [length, implementation]
    for sop_class, information in extended:
        negotiation = SOPClassExtendedNegotiation()
        negotiation.sop_class_uid = sop_class
        negotiation.service_class_application_information = information
        primitive.user_information.append(negotiation)
    items = []
    for number, (abstract, syntaxes) in enumerate(contexts):
        context = PresentationContext()
        context.context_id = 2 * number + 1
        context.abstract_syntax = abstract
        context.transfer_syntax = syntaxes
        items.append(context)
    primitive.presentation_context_definition_list = items
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def p_data(pdvs: list[tuple[int, bytes]]) -> bytes:
    """A P-DATA-TF (PS3.8 9.3.5) of (context ID, message control header + fragment)."""
    primitive = P_DATA()
    primitive.presentation_data_value_list = [[cid, data] for cid, data in pdvs]
    pdu = P_DATA_TF()
    pdu.from_primitive(primitive)
    return pdu.encode()


def c_echo_pdata(context_id: int = 1) -> bytes:
    """A C-ECHO-RQ as pynetdicom's DIMSE encoder puts it in one P-DATA-TF."""
    request = primitives.C_ECHO()
    request.MessageID = 1
    request.AffectedSOPClassUID = VERIFICATION
    message = dimse.C_ECHO_RQ()
    message.primitive_to_message(request)
    pdus = []
    for primitive in message.encode_msg(context_id, 16384):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        pdus.append(pdu.encode())
    return b"".join(pdus)


def c_find_pdata(context_id: int, sop_class: str, identifier: Dataset) -> list[bytes]:
    """A C-FIND-RQ with ``identifier`` as pynetdicom encodes it: its P-DATA-TF PDUs."""
    request = primitives.C_FIND()
    request.MessageID = 1
    request.AffectedSOPClassUID = sop_class
    request.Priority = 2
    request.Identifier = BytesIO(encode_dataset(identifier, True, True))
    message = dimse.C_FIND_RQ()
    message.primitive_to_message(request)
    pdus = []
    for primitive in message.encode_msg(context_id, 16384):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        pdus.append(pdu.encode())
    return pdus


# ---------------------------------------------------------------- byte mutations


def with_pdu_length(pdu: bytes) -> bytes:
    """The PDU with its length field (bytes 2-5) made to match its body again."""
    return pdu[:2] + struct.pack(">I", len(pdu) - 6) + pdu[6:]


def set_ae_field(rq: bytes, at: int, value: bytes) -> bytes:
    """Replace the 16-byte called (10) or calling (26) AE field; a longer value grows
    the fixed-length field, so every later field moves (PS3.8 Table 9-11)."""
    return with_pdu_length(rq[:at] + value + rq[at + AE_FIELD :])


def set_version(rq: bytes, version: int) -> bytes:
    return rq[:VERSION_AT] + struct.pack(">H", version) + rq[VERSION_AT + 2 :]


def replace_uid(rq: bytes, old: str, new: bytes) -> bytes:
    """``old`` (a UID of a sub-item) replaced by ``new`` with every enclosing length
    fixed: the sub-item's, its presentation context item's and the PDU's (9.3.2.2)."""
    at = rq.index(old.encode())
    delta = len(new) - len(old)
    data = bytearray(rq)
    data[at - 2 : at] = struct.pack(">H", len(new))  # the sub-item's length
    position = 6 + 68  # the variable items after the fixed fields (Table 9-11)
    while position < at:
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if position + 4 <= at - 4 < position + 4 + length:  # not the item itself
            data[position + 2 : position + 4] = struct.pack(">H", length + delta)
            break
        position += 4 + length
    return with_pdu_length(bytes(data[:at]) + new + bytes(data[at + len(old) :]))


def truncate_pdv(pdu: bytes, extra: int) -> bytes:
    """The first PDV's item length claims ``extra`` bytes more than its PDU holds."""
    length = struct.unpack(">I", pdu[6:10])[0]
    return pdu[:6] + struct.pack(">I", length + extra) + pdu[10:]


def bad_element_length(pdus: list[bytes], tag: bytes, length: int) -> list[bytes]:
    """The element ``tag`` (4 bytes, implicit VR LE) of the identifier given a length
    field that does not match its value (PS3.5 7.1.1)."""
    last = pdus[-1]
    at = last.rfind(tag)
    return [*pdus[:-1], last[: at + 4] + struct.pack("<I", length) + last[at + 8 :]]


# ---------------------------------------------------------------- hypothesis


Strategies: TypeAlias = "dict[str, st.SearchStrategy[Case]]"  # case kind -> its variations


def draw_cases(strategies: Strategies, *, run_seed: int, per_kind: int) -> list[Case]:
    """Up to ``per_kind`` distinct cases of every kind, drawn with the run's seed:
    deterministic for one seed and one version of this module, so a printed seed
    replays the run."""
    cases: list[Case] = []
    for strategy in strategies.values():
        cases += _draw(strategy, run_seed, per_kind)
    return cases


def _draw(strategy: st.SearchStrategy[Case], run_seed: int, examples: int) -> list[Case]:
    from hypothesis import HealthCheck, Phase, given, seed, settings

    drawn: list[Case] = []

    @seed(run_seed)
    @settings(
        max_examples=examples * 4,  # duplicates are skipped
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Case) -> None:
        if len(drawn) < examples and str(case) not in {str(c) for c in drawn}:
            drawn.append(case)

    collect()
    return drawn


@dataclass(frozen=True)
class Identity:
    calling: str
    called: str
    abstract: str  # a SOP class the target provides (its find model, else Verification)


def uid_of(index: int, length: int) -> str:
    """A well-formed UID of ``length`` characters (PS3.5 9.1) under the 2.25 root."""
    base = f"2.25.{index + 1}"
    return base + ("." + "1" * (length - len(base) - 1) if length > len(base) + 1 else "")


def associate_rq_cases(who: Identity) -> Strategies:
    """Bad or extreme A-ASSOCIATE-RQs (PS3.8 9.3.2)."""
    from hypothesis import strategies as st

    ts = ImplicitVRLittleEndian

    def big(pair: tuple[int, int]) -> Case:
        contexts, syntaxes = pair
        proposed = [(who.abstract, [ts])] + [
            (uid_of(i, 40), [ts, *(uid_of(i * 64 + j, 64) for j in range(syntaxes))])
            for i in range(contexts - 1)
        ]
        data = associate_rq(who.calling, who.called, proposed)
        what = f"{len(data):,} bytes: {contexts} contexts x {syntaxes + 1} transfer syntaxes"
        return Case("associate-rq/item-list-64k", what, lambda _m, d=data: d)

    def many(count: int) -> Case:
        proposed = [(who.abstract, [ts])] * count
        data = associate_rq(who.calling, who.called, proposed)
        what = f"{count} presentation contexts (IDs 1-{2 * count - 1}), {len(data):,} bytes"
        return Case("associate-rq/contexts-128", what, lambda _m, d=data: d)

    def bad_uid(triple: tuple[str, tuple[str, str]]) -> Case:
        where, (form, uid) = triple
        placeholder = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture, rewritten below
        valid = associate_rq(who.calling, who.called, [(VERIFICATION, [ts]), (placeholder, [ts])])
        old = placeholder if where == "abstract syntax" else APPLICATION_CONTEXT
        data = replace_uid(valid, old, uid.encode("latin-1"))
        return Case("associate-rq/invalid-uid", f"{where} {form}: {uid!r}", lambda _m, d=data: d)

    def big_user_information(count: int) -> Case:
        size = 64000 // count - 4 - 2 - len(VERIFICATION)  # one sub-item's information
        extended = [(VERIFICATION, b"\x01" * size)] * count
        data = associate_rq(who.calling, who.called, [(who.abstract, [ts])], extended=extended)
        what = f"User Information of {count} extended negotiation sub-items, {len(data):,} bytes"
        return Case("associate-rq/user-info-64k", what, lambda _m, d=data: d)

    def ae(pair: tuple[str, int]) -> Case:
        where, size = pair
        valid = associate_rq(who.calling, who.called, [(who.abstract, [ts])])
        at = CALLED_AT if where == "called" else CALLING_AT
        name = (who.called if where == "called" else who.calling).ljust(size, "X")[:size]
        data = set_ae_field(valid, at, name.encode().ljust(size) if size else b" " * AE_FIELD)
        what = (
            f"{where} AE title of 16 spaces (no AE title, PS3.8 9.3.2)"
            if size == 0
            else f"{where} AE title field of {size} bytes {name!r} (the field is 16)"
        )
        kind = "associate-rq/ae-title-empty" if size == 0 else "associate-rq/ae-title-17"
        return Case(kind, what, lambda _m, d=data: d)

    long_uid = st.integers(65, 96).map(lambda n: ("longer than 64", "1.2." + "3" * (n - 4)))
    letters = st.from_regex(r"1\.2\.[a-z]{1,8}\.[0-9]{1,4}", fullmatch=True).map(
        lambda u: ("non-numeric", u)
    )
    zeros = st.integers(1, 99).map(lambda n: ("leading zero", f"1.2.0{n}.3"))
    return {
        "associate-rq/item-list-64k": st.tuples(st.integers(110, 128), st.integers(8, 9)).map(big),
        "associate-rq/contexts-128": st.just(128).map(many),
        "associate-rq/user-info-64k": st.integers(16, 64).map(big_user_information),
        "associate-rq/invalid-uid": st.tuples(
            st.sampled_from(["abstract syntax", "application context name"]),
            st.one_of(long_uid, letters, zeros),
        ).map(bad_uid),
        "associate-rq/ae-title-empty": st.sampled_from(["called", "calling"]).map(
            lambda where: ae((where, 0))
        ),
        "associate-rq/ae-title-17": st.sampled_from(["called", "calling"]).map(
            lambda where: ae((where, 17))
        ),
    }


def protocol_version_cases(who: Identity) -> Strategies:
    """A-ASSOCIATE-RQs whose protocol version lacks bit 0 (PS3.8 9.3.2: the receiver
    tests bit 0 only, and has no version it could accept)."""
    from hypothesis import strategies as st

    def bad(version: int) -> Case:
        valid = associate_rq(who.calling, who.called, [(VERIFICATION, [ImplicitVRLittleEndian])])
        data = set_version(valid, version)
        return Case(
            "associate-rq/protocol-version",
            f"protocol version {version:04X}H",
            lambda _m, d=data: d,
        )

    return {"associate-rq/protocol-version": st.integers(0, 0x7FFF).map(lambda n: 2 * n).map(bad)}


def unexpected_pdu_cases() -> Strategies:
    """PDUs an acceptor cannot use: an unknown type, before or after the AC (Annex A
    Evt19), and a P-DATA-TF before any association (Sta2, Evt10)."""
    from hypothesis import strategies as st

    def unknown(triple: tuple[int, bytes, bool]) -> Case:
        pdu_type, body, after = triple
        data = bytes([pdu_type, 0]) + struct.pack(">I", len(body)) + body
        when = "after the A-ASSOCIATE-AC" if after else "as the first PDU"
        kind = "pdu/unknown-type-after-ac" if after else "pdu/unknown-type"
        return Case(
            kind,
            f"PDU type {pdu_type:02X}H, {len(body)} bytes, {when}",
            lambda _m, d=data: d,
            after,
        )

    def early(context_id: int) -> Case:
        data = c_echo_pdata(context_id)
        what = f"a C-ECHO-RQ in a P-DATA-TF (context {context_id}) before any A-ASSOCIATE-RQ"
        return Case("pdu/p-data-before-association", what, lambda _m, d=data: d)

    types = st.one_of(st.just(0x00), st.integers(0x08, 0xFF))
    return {
        "pdu/unknown-type": st.tuples(types, st.binary(max_size=64), st.just(False)).map(unknown),
        "pdu/unknown-type-after-ac": st.tuples(types, st.binary(max_size=64), st.just(True)).map(
            unknown
        ),
        "pdu/p-data-before-association": st.integers(0, 127).map(lambda n: 2 * n + 1).map(early),
    }


def p_data_cases(context_id: int, sop_class: str, identifier: Dataset) -> Strategies:
    """Bad P-DATA-TFs on an established association: larger than the max PDU the target
    announced (PS3.8 D.1), a PDV longer than its PDU (9.3.5.1), an identifier element
    whose length does not fit its data set (PS3.5 7.1.1)."""
    from hypothesis import strategies as st

    find = c_find_pdata(context_id, sop_class, identifier)

    def oversize(extra: int) -> Case:
        def build(announced: int | None) -> bytes:
            limit = announced or 16384
            fragment = b"\x00" * (limit + extra - 6)  # PDV header: length (4), ID, control
            return p_data([(context_id, b"\x01" + fragment)])

        return Case(
            "p-data/over-max-length",
            f"a P-DATA-TF {extra} bytes over the announced max",
            build,
            True,
        )

    def truncated(extra: int) -> Case:
        data = truncate_pdv(c_echo_pdata(context_id), extra)
        return Case(
            "p-data/truncated-pdv",
            f"a PDV claiming {extra} bytes more than its PDU",
            lambda _m, d=data: d,
            True,
        )

    def bad_length(length: int) -> Case:
        data = b"".join(bad_element_length(find, b"\x10\x00\x20\x00", length))
        what = f"a C-FIND identifier whose Patient ID (0010,0020) has length {length}"
        return Case("p-data/invalid-element-length", what, lambda _m, d=data: d, True)

    return {
        "p-data/over-max-length": st.integers(1, 4096).map(oversize),
        "p-data/truncated-pdv": st.integers(1, 4096).map(truncated),
        "p-data/invalid-element-length": st.one_of(
            st.integers(0x100, 0xFFFF), st.just(0xFFFFFFF0)
        ).map(bad_length),
    }


# ---------------------------------------------------------------- HL7 frames


def frame_cases(valid_message: str) -> Strategies:
    """MLLP frames an HL7 interface cannot process (HL7 2.5 §2.9, Appendix C.4): no
    MSH, wrong encoding characters, binary garbage, 10 MB, a frame without <FS>."""
    from hypothesis import strategies as st

    segments = valid_message.split("\r")
    body = "\r".join(segments[1:]).encode()

    def framed(data: bytes) -> bytes:
        return VT + data + FS + CR

    def no_msh(drop: int) -> Case:
        rest = segments[1 + drop % max(len(segments) - 1, 1) :] or segments[1:]
        data = framed("\r".join(rest).encode())
        return Case("hl7/no-msh", f"{len(rest)} segment(s) without MSH", lambda _m, d=data: d)

    def encoding(characters: str) -> Case:
        msh = segments[0].split("|")
        header = "MSH|" + characters + "|" + "|".join(msh[2:])
        data = framed(header.encode() + b"\r" + body)
        return Case("hl7/encoding-characters", f"MSH-2 {characters!r}", lambda _m, d=data: d)

    def garbage(data: bytes) -> Case:
        clean = data.replace(VT, b"").replace(FS, b"")
        sent = framed(clean)
        return Case(
            "hl7/binary-garbage",
            f"{len(clean)} random bytes in a frame",
            lambda _m, d=sent: d,
        )

    def huge(size: int) -> Case:
        note = ("NTE|1||" + "X" * 65000 + "\r").encode()
        data = framed(valid_message.encode() + b"\r" + note * (size // len(note) + 1))
        return Case("hl7/10-mb", f"a message of {len(data) / 1e6:.1f} MB", lambda _m, d=data: d)

    def unterminated(trailing_cr: bool) -> Case:
        data = VT + valid_message.encode() + (CR if trailing_cr else b"")
        what = "a frame without <FS>" + (", ending in <CR>" if trailing_cr else "")
        return Case("hl7/no-fs", what, lambda _m, d=data: d)

    wrong = st.sampled_from(["", "^", "^~", "^^\\&", "|~\\&", "^~\\&#^", "\x00\x01\x02\x03"])
    return {
        "hl7/no-msh": st.integers(0, 8).map(no_msh),
        "hl7/encoding-characters": wrong.map(encoding),
        "hl7/binary-garbage": st.binary(min_size=8, max_size=2048).map(garbage),
        "hl7/10-mb": st.just(10_000_000).map(huge),
        "hl7/no-fs": st.booleans().map(unterminated),
    }


# ---------------------------------------------------------------- one family of cases


@dataclass
class Survival:
    """What a family of cases got: each case's answer, the case after which the target
    stopped serving (with what the probe saw), and the cases the time budget left out."""

    answers: list[tuple[Case, Answer]]
    killed_by: tuple[int, Case, Answer, str] | None = None
    not_run: int = 0


def survive(
    cases: list[Case],
    send: Callable[[Case], Answer],
    serves: Callable[[], str | None],
    *,
    budget: float,
    note: Callable[[str], None],
) -> Survival:
    """Send each case, then ask ``serves`` whether the target still serves; stop at the
    first case after which it does not, or when ``budget`` seconds are spent."""
    result = Survival([])
    started = time.monotonic()
    for number, case in enumerate(cases, 1):
        if time.monotonic() - started > budget:
            result.not_run = len(cases) - number + 1
            note(f"time budget of {budget:g} s spent: {result.not_run} case(s) not run")
            break
        answer = send(case)
        result.answers.append((case, answer))
        note(f"case {number}/{len(cases)} {case} -> {answer}")
        problem = serves()
        if problem is not None:
            result.killed_by = (number, case, answer, problem)
            break
    return result


def summary(answers: list[tuple[Case, Answer]]) -> str:
    """Per case kind, the answers it got: "pdu/unknown-type: A-ABORT x2, closed"."""
    kinds: dict[str, dict[str, int]] = {}
    for case, answer in answers:
        counts = kinds.setdefault(case.kind, {})
        counts[answer.kind] = counts.get(answer.kind, 0) + 1
    return "; ".join(
        f"{kind}: " + ", ".join(f"{a} x{n}" if n > 1 else a for a, n in counts.items())
        for kind, counts in kinds.items()
    )


def msa_1(exchange: Exchange) -> str:
    """What an HL7 exchange got back, in one word or phrase: MSA-1, or the problem."""
    if exchange.reply is None:
        return exchange.problem or "no reply"
    return field_of(exchange.reply.payload, "MSA", 1) or "a reply without MSA-1"


def details(answers: list[tuple[Case, Answer]]) -> str:
    """Every case with its answer, for the report: "pdu/unknown-type: ... -> closed"."""
    return " | ".join(f"{case} -> {answer}" for case, answer in answers)
