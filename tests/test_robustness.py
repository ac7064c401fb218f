"""The robustness suite itself: its bad PDUs are what they claim to be, its draws replay
from the seed, it passes on the clean embedded site and names the killing case (with the
replay seed) under the site's faults."""

from __future__ import annotations

import struct

import pytest
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.pdu import A_ASSOCIATE_RQ

from interopgate import robustness as rb
from tests.junit import read_cases

# The invalid UIDs are the point: pydicom's warning about them (the embedded site
# decoding them in this process) is expected.
pytestmark = pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")

WHO = rb.Identity("IG_DEVICE", "IG_PACS", rb.VERIFICATION)
TS = [ImplicitVRLittleEndian]


def _decoded(data: bytes) -> A_ASSOCIATE_RQ:
    pdu = A_ASSOCIATE_RQ()
    pdu.decode(data)
    return pdu


def test_valid_request_decodes_with_pynetdicom():
    data = rb.associate_rq("IG_DEVICE", "IG_PACS", [(rb.VERIFICATION, TS)] * 128)
    pdu = _decoded(data)
    assert len(pdu.presentation_context) == 128
    assert struct.unpack(">I", data[2:6])[0] == len(data) - 6


def test_replaced_uid_keeps_every_length_consistent():
    valid = rb.associate_rq("A", "B", [(rb.VERIFICATION, TS), ("1.2.840.10008.5.1.4.1.1.7", TS)])
    short = rb.replace_uid(valid, "1.2.840.10008.5.1.4.1.1.7", b"1.2.x.4")
    assert str(_decoded(short).presentation_context[1].abstract_syntax) == "1.2.x.4"
    long_uid = "1.2." + "3" * 80  # pynetdicom refuses to decode it: back again instead
    grown = rb.replace_uid(valid, "1.2.840.10008.5.1.4.1.1.7", long_uid.encode())
    assert struct.unpack(">I", grown[2:6])[0] == len(grown) - 6
    assert rb.replace_uid(grown, long_uid, b"1.2.840.10008.5.1.4.1.1.7") == valid


def test_ae_field_and_version_mutations():
    valid = rb.associate_rq("A", "B", [(rb.VERIFICATION, TS)])
    grown = rb.set_ae_field(valid, rb.CALLED_AT, b"X" * 17)
    assert len(grown) == len(valid) + 1
    assert struct.unpack(">I", grown[2:6])[0] == len(grown) - 6
    assert rb.set_version(valid, 2)[6:8] == b"\x00\x02"


def test_draws_replay_from_the_seed_and_cover_every_kind():
    strategies = {**rb.associate_rq_cases(WHO), **rb.unexpected_pdu_cases()}
    first = rb.draw_cases(strategies, run_seed=7, per_kind=2)
    again = rb.draw_cases(strategies, run_seed=7, per_kind=2)
    assert [str(c) for c in first] == [str(c) for c in again]
    assert {c.kind for c in first} == set(strategies)
    big = next(c for c in first if c.kind == "associate-rq/item-list-64k")
    assert len(big.build(None)) > 64 * 1024


@pytest.mark.parametrize(
    ("fault", "killing_kind"),
    [
        ("wire-dies-on-oversize-associate-rq", "associate-rq/item-list-64k"),
        ("hl7-dies-without-msh", "hl7/no-msh"),
    ],
)
def test_suite_names_the_killing_case(run_suites, fault, killing_kind):
    result, junit = run_suites(
        "--profile=agfa-cr", "-m", "robustness", f"--site-fault={fault}", "--robustness-seed=5"
    )
    assert result.ret == 1, result.stdout.str()
    assert "robustness seed: --robustness-seed=5" in result.stdout.str()
    failed = [c for c in read_cases(junit) if c.outcome == "failed"]
    killing = [c for c in failed if "before any bad input" not in c.message]
    assert len(killing) == 1, [c.message for c in failed]
    message = killing[0].message
    assert killing_kind in message and "replay: --robustness-seed=5" in message
    assert "Traceback" not in message


def test_clean_site_survives_the_suite(run_suites):
    result, junit = run_suites("--profile=agfa-cr", "-m", "robustness")
    cases = read_cases(junit)
    assert result.ret == 0, result.stdout.str()
    assert {c.properties["check"] for c in cases} == {
        "robustness.dicom.survives",
        "robustness.dicom.protocol_version",
        "robustness.hl7.survives",
    }
    assert {c.outcome for c in cases} == {"passed"}
