"""A peer's Modality Worklist matrix, as the site's own table-driven self-tests.

Orthanc's integration tests query DCMTK's sample worklist (dcmwlm/data: ten items in
``wlistdb``, thirteen queries in ``wlistqry``) and compare with expected answers. The
facts are restated here in this project's terms, not copied: what each item holds
(only what the queries look at), what each query asks, and which items must come back
by PS3.4 C.2.2.2 and K.2.2. Every query runs on each item alone and on all ten: eleven
item sets by thirteen queries, 143 cases. Rows the peer matrix reaches only through its
variants follow (a '*' comments key, a wildcard station AE, group lengths on the wire,
the peer's sequence and private-creator cases). The embedded site is queried over the
network, as a device would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset

from interopgate.dicom.association import Endpoint
from interopgate.site.pacs import ReferenceSite
from tests.worklist_items import WorklistPeer, dataset_from_spec, group_lengths_on_the_wire

EMPTY_CODE_KEYS = {"CodeValue": "", "CodingSchemeDesignator": "", "CodeMeaning": ""}

# The sample items: (accession, patient, patient ID, modality, station AE titles, SPS
# start date, SPS start time, station name). Every item has one SPS item with a
# zero-length Pre-Medication and Comments on the SPS, and neither a Requested Procedure
# Code Sequence nor a Scheduled Protocol Code Sequence.
PEER_ITEMS: dict[str, tuple[Any, ...]] = {
    "wklist1": ("00000", "VIVALDI^ANTONIO", "AV35674", "MR", ["AA32", "AA33"], "19951015", "085607", "STN456"),
    "wklist2": ("00002", "VIVALDI^ANTONIO", "AV35674", "CT", ["AB45"], "19960406", "160700", "STNAB89"),
    "wklist3": ("00003", "VIVALDI^ANTONIO", "AV35674", "CR", ["CC56", "NN77"], "19960123", "135558", "STN899"),
    "wklist4": ("00004", "HAYDN^FRANZ^JOSEPH", "HF", "US", ["AA32"], "19960103", "165709", "STN34723"),
    "wklist5": ("00005", "HAYDN^FRANZ^JOSEPH", "HF", "CR", ["AB45", "DD56"], "19951206", "094500", "STN8903"),
    "wklist6": ("00006", "HAYDN^FRANZ^JOSEPH", "HF", "CT", ["FG56", "ER67", "JJ56", "TZ77"], "19930606", "153600", "STN8987"),
    "wklist7": ("00007", "BEETHOVEN^LUDWIG^VAN", "BLV734623", "NM", ["AZ01"], "19960502", "140956", "STN9483"),
    "wklist8": ("00008", "BEETHOVEN^LUDWIG^VAN", "BLV734623", "CT", ["DS45", "NN77", "GH67"], "19960423", "110856", "STN656"),
    "wklist9": ("00009", "MOZART^WOLFGANG^AMADEUS", "MWA484763", "CT", ["AA67"], "19931204", "075644", "STN345"),
    "wklist10": ("00001", "MOZART^WOLFGANG^AMADEUS", "MWA484763", "MR", ["TT67"], "19960805", "175609", "STN94594"),
}  # fmt: skip
ALL = frozenset(PEER_ITEMS)


def peer_item(name: str) -> dict:
    accession, patient, patient_id, modality, stations, date, time, station = PEER_ITEMS[name]
    number = name.removeprefix("wklist")
    return {
        "SpecificCharacterSet": "ISO_IR 100",
        "AccessionNumber": accession,
        "PatientName": patient,
        "PatientID": patient_id,
        "PatientSex": "M",
        "StudyInstanceUID": f"1.2.826.0.1.3680043.10.543.7.{number}",
        "RequestedProcedureID": f"RP{number}",
        "RequestedProcedurePriority": "LOW",
        "ScheduledProcedureStepSequence": [
            {
                "Modality": modality,
                "ScheduledStationAETitle": stations,
                "ScheduledProcedureStepStartDate": date,
                "ScheduledProcedureStepStartTime": time,
                "ScheduledProcedureStepID": f"SPD{number}",
                "ScheduledStationName": station,
                "PreMedication": "",
                "CommentsOnTheScheduledProcedureStep": "",
            }
        ],
    }


RETURN_KEYS = dict.fromkeys(
    [
        "AccessionNumber",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "MedicalAlerts",
        "Allergies",  # Contrast Allergies (0010,2110)
        "StudyInstanceUID",
        "RequestingPhysician",
        "RequestedProcedureDescription",
        "RequestedProcedureID",
        "RequestedProcedurePriority",
    ],
    "",
)
SPS_RETURN_KEYS = dict.fromkeys(
    [
        "Modality",
        "RequestedContrastAgent",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
        "ScheduledProcedureStepID",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
        "PreMedication",
        "CommentsOnTheScheduledProcedureStep",
    ],
    "",
)


def _sps(*base: dict, **keys: Any) -> list[dict]:
    """A Scheduled Procedure Step Sequence key: one item, ``keys`` over ``base``."""
    return [{**(base[0] if base else {}), **keys}]


# The thirteen queries: what each asks, and which of the ten items must come back.
PEER_QUERIES: dict[str, tuple[dict, frozenset[str]]] = {
    "0 Requested Procedure Code Sequence with zero-length item keys (return keys only)": (
        {"PatientName": "", "RequestedProcedureCodeSequence": [EMPTY_CODE_KEYS]},
        ALL,
    ),
    "1 return keys, the SPS asked for whole": (
        {**RETURN_KEYS, "ScheduledProcedureStepSequence": [{}]},
        ALL,
    ),
    "2 every key, station AE AA2 and station name A2": (
        {
            **RETURN_KEYS,
            "ScheduledProcedureStepSequence": _sps(
                SPS_RETURN_KEYS, ScheduledStationAETitle="AA2", ScheduledStationName="A2"
            ),
        },
        frozenset(),
    ),
    "3 the SPS asked for whole": (
        {"PatientName": "", "ScheduledProcedureStepSequence": [{}]},
        ALL,
    ),
    "4 Modality DD": (
        {"PatientName": "", "ScheduledProcedureStepSequence": _sps(Modality="DD")},
        frozenset(),
    ),
    "5 SPS start time from 12:00 (open range)": (
        {
            "PatientName": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="",
                ScheduledProcedureStepStartDate="",
                ScheduledProcedureStepStartTime="120000-",
                ScheduledPerformingPhysicianName="",
                ScheduledProcedureStepID="",
            ),
        },
        frozenset({"wklist2", "wklist3", "wklist4", "wklist6", "wklist7", "wklist10"}),
    ),
    "6 Modality, station AE AA2": (
        {
            "PatientName": "",
            "ScheduledProcedureStepSequence": _sps(Modality="", ScheduledStationAETitle="AA2"),
        },
        frozenset(),
    ),
    "7 every key, station AE AA2": (
        {
            **RETURN_KEYS,
            "ScheduledProcedureStepSequence": _sps(SPS_RETURN_KEYS, ScheduledStationAETitle="AA2"),
        },
        frozenset(),
    ),
    "8 station AE AA2 and station name A2": (
        {
            "PatientName": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="", ScheduledStationAETitle="AA2", ScheduledStationName="A2"
            ),
        },
        frozenset(),
    ),
    "9 station AE AA2, station name A2, with more return keys": (
        {
            "PatientName": "",
            "RequestedProcedureID": "",
            "RequestedProcedurePriority": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="",
                ScheduledStationAETitle="AA2",
                ScheduledProcedureStepStartDate="",
                ScheduledProcedureStepStartTime="",
                ScheduledPerformingPhysicianName="",
                ScheduledStationName="A2",
                ScheduledProcedureStepLocation="",
            ),
        },
        frozenset(),
    ),
    "10 Scheduled Protocol Code Sequence with zero-length item keys, in the SPS": (
        {
            "PatientName": "",
            "RequestedProcedureID": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="",
                ScheduledProcedureStepLocation="",
                ScheduledProtocolCodeSequence=[EMPTY_CODE_KEYS],
            ),
        },
        ALL,
    ),
    "11 every key as a return key": (
        {**RETURN_KEYS, "ScheduledProcedureStepSequence": _sps(SPS_RETURN_KEYS)},
        ALL,
    ),
    "12 station AE AA4, station name A2, comments '*'": (
        {
            "PatientName": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="",
                ScheduledStationAETitle="AA4",
                ScheduledStationName="A2",
                CommentsOnTheScheduledProcedureStep="*",
            ),
        },
        frozenset(),
    ),
}
ITEM_SETS = {**{name: frozenset({name}) for name in PEER_ITEMS}, "all ten": ALL}


@pytest.fixture(scope="module")
def site() -> Iterator[ReferenceSite]:
    with ReferenceSite() as running, group_lengths_on_the_wire():
        yield running


def ask(site: ReferenceSite, items: list[dict], query: dict) -> list[Dataset]:
    site.remove_worklist_items(list(site.worklist))
    site.add_worklist_items([dataset_from_spec(item) for item in items])
    endpoint = Endpoint(*site.dicom_address, site.config.ae_title)
    with WorklistPeer(endpoint) as peer:
        return peer.find(query)


def _accessions(answers: list[Dataset]) -> list[str]:
    return sorted(str(a.AccessionNumber) for a in answers)


def _expected(names: frozenset[str]) -> list[str]:
    return sorted(PEER_ITEMS[name][0] for name in names)


@pytest.mark.parametrize("item_set", list(ITEM_SETS))
@pytest.mark.parametrize("query_name", list(PEER_QUERIES))
def test_peer_matrix(site, item_set, query_name):
    """PS3.4 C.2.2.2 / K.2.2: the items that must come back, on each item set."""
    query, matching = PEER_QUERIES[query_name]
    query = {"AccessionNumber": "", **query}
    answers = ask(site, [peer_item(name) for name in sorted(ITEM_SETS[item_set])], query)
    assert _accessions(answers) == _expected(ITEM_SETS[item_set] & matching)


def test_a_type_1c_code_sequence_the_items_lack_is_not_returned(site):
    """Queries 0 and 10 come back without the code sequences (Table K.6-1 Type 1C, PS3.5
    7.4): no empty Requested Procedure Code Sequence, no empty Scheduled Protocol Code
    Sequence in the SPS items."""
    items = [peer_item(name) for name in PEER_ITEMS]
    for name in ("0", "10"):
        query = next(q for key, (q, _) in PEER_QUERIES.items() if key.split()[0] == name)
        answers = ask(site, items, query)
        assert len(answers) == len(PEER_ITEMS)
        for answer in answers:
            assert "RequestedProcedureCodeSequence" not in answer
            for step in answer.get("ScheduledProcedureStepSequence", []):
                assert "ScheduledProtocolCodeSequence" not in step


def test_sps_asked_for_whole_comes_back_whole(site):
    """C.2.2.2.6: an empty item key returns the entire sequence (query 1)."""
    answers = ask(
        site, [peer_item("wklist6")], PEER_QUERIES["1 return keys, the SPS asked for whole"][0]
    )
    (step,) = answers[0].ScheduledProcedureStepSequence
    assert list(step.ScheduledStationAETitle) == ["FG56", "ER67", "JJ56", "TZ77"]
    assert step.ScheduledStationName == "STN8987"


# --------------------------------------------------------------- the peer's variants

VARIANTS: dict[str, tuple[dict, frozenset[str], bool]] = {
    "comments '*' alone, every stored value zero-length (C.2.2.2.4 note 1, K.2.2.1.1.1)": (
        {
            "PatientName": "",
            "ScheduledProcedureStepSequence": _sps(
                Modality="", CommentsOnTheScheduledProcedureStep="*"
            ),
        },
        ALL,
        False,
    ),
    "station AE AA3* (AE is a wildcard VR, C.2.2.2.4)": (
        {"ScheduledProcedureStepSequence": _sps(ScheduledStationAETitle="AA3*")},
        frozenset({"wklist1", "wklist4"}),
        False,
    ),
    "station AE AA32 against several stored values (C.2.2.2.1, any value)": (
        {"ScheduledProcedureStepSequence": _sps(ScheduledStationAETitle="AA32")},
        frozenset({"wklist1", "wklist4"}),
        False,
    ),
    "query 11 with group lengths on the wire (PS3.5 7.2)": (
        {**RETURN_KEYS, "ScheduledProcedureStepSequence": _sps(SPS_RETURN_KEYS)},
        ALL,
        True,
    ),
    "query 5 with group lengths on the wire (PS3.5 7.2)": (
        PEER_QUERIES["5 SPS start time from 12:00 (open range)"][0],
        PEER_QUERIES["5 SPS start time from 12:00 (open range)"][1],
        True,
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_peer_variants(site, variant):
    query, matching, group_lengths = VARIANTS[variant]
    query = {"AccessionNumber": "", **query, "group_lengths": group_lengths}
    answers = ask(site, [peer_item(name) for name in PEER_ITEMS], query)
    assert _accessions(answers) == _expected(matching)
    assert all(element.tag.element != 0 for answer in answers for element in answer)


# The peer's sequence case: three items of one clinic. Two steps share an accession
# and have no SPS ID; one of them lacks the Referenced Study/Patient Sequences.
CLINIC_STEP = {
    "Modality": "CR",
    "ScheduledStationAETitle": "STATION_AET",
    "ScheduledProcedureStepStartDate": "20161116",
    "ScheduledProcedureStepStartTime": "110253",
    "ScheduledPerformingPhysicianName": "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepID": "",
}
CLINIC_ITEMS = {
    "7705": {
        "AccessionNumber": "AN123456",
        "PatientName": "PatientName",
        "PatientID": "01234567",
        "StudyInstanceUID": "1.2.826.0.1.3680043.10.543.8.7705",
        "ScheduledProcedureStepSequence": [
            {
                **CLINIC_STEP,
                "Modality": "DX",
                "ScheduledProcedureStepStartDate": "20161117",
                "ScheduledProcedureStepStartTime": "140053",
            }
        ],
    },
    "7814": {
        "AccessionNumber": "AN123457",
        "PatientName": "nn",
        "PatientID": "01234568",
        "PatientSex": "F ",
        "StudyInstanceUID": "1.2.826.0.1.3680043.10.543.8.7814",
        "ReferencedStudySequence": [],
        "ReferencedPatientSequence": [],
        "ScheduledProcedureStepSequence": [CLINIC_STEP],
    },
    "7814 without referenced sequences": {
        "AccessionNumber": "AN123457",
        "PatientName": "nn",
        "PatientID": "01234568",
        "PatientSex": "F ",
        "StudyInstanceUID": "1.2.826.0.1.3680043.10.543.8.7815",
        "ScheduledProcedureStepSequence": [CLINIC_STEP],
    },
}
EMPTY_REFERENCE = [{"ReferencedSOPClassUID": "", "ReferencedSOPInstanceUID": ""}]
CLINIC_QUERY = {
    "AccessionNumber": "",
    "ReferringPhysicianName": "",
    "ReferencedStudySequence": EMPTY_REFERENCE,
    "ReferencedPatientSequence": EMPTY_REFERENCE,
    "PatientName": "* ",
    "PatientID": "",
    "PatientBirthDate": "",
    "PatientSex": "",
    "StudyInstanceUID": "",
    "RequestingPhysician": "",
    "RequestedProcedureDescription": "",
    "RequestedProcedureCodeSequence": [],
    "ScheduledProcedureStepSequence": [
        {
            "Modality": "",
            "ScheduledStationAETitle": "STATION_AET ",
            "ScheduledProcedureStepStartDate": "20161116",
            "ScheduledProcedureStepStartTime": "",
            "ScheduledPerformingPhysicianName": "",
            "ScheduledProcedureStepDescription": "",
            "ScheduledProtocolCodeSequence": [],
            "ScheduledProcedureStepID": "",
        }
    ],
    "RequestedProcedureID": "",
}


@pytest.mark.parametrize("group_lengths", [True, False], ids=["with group lengths", "without"])
@pytest.mark.parametrize(
    "referenced", [True, False], ids=["asking the referenced sequences", "not"]
)
def test_peer_sequence_case(site, group_lengths, referenced):
    """Both steps of accession AN123457 on 2016-11-16 come back (the 7705 step is the
    next day): items without an SPS ID are kept apart when loaded; the referenced
    sequences asked with zero-length UIDs select nothing (C.2.2.2.3, C.2.2.2.6); group
    lengths are no keys (PS3.5 7.2); '* ' and 'STATION_AET ' carry a padding space
    (PS3.5 6.2)."""
    query = dict(CLINIC_QUERY, group_lengths=group_lengths)
    if not referenced:
        del query["ReferencedStudySequence"], query["ReferencedPatientSequence"]
    answers = ask(site, list(CLINIC_ITEMS.values()), query)
    assert sorted(str(a.StudyInstanceUID)[-4:] for a in answers) == ["7814", "7815"]
    if referenced:
        assert all(a.ReferencedStudySequence == [] for a in answers)


def test_peer_private_creator_case(site):
    """The peer's private-creator case: a query with a private block (creator and one
    element) next to PN 'VIV*' finds the one item holding that block."""
    item = {
        **peer_item("wklist1"),
        "8001,0010 LO": "LIAC",
        "8001,1001 LO": "ONCO^FRANCO",
        "8001,1002 LO": "SURG^FRANCO",
    }
    query = {"PatientName": "VIV*", "8001,0010 LO": "LIAC", "8001,1001 LO": "ONCO^FRANCO"}
    answers = ask(site, [item, peer_item("wklist4")], query)
    assert [str(a.PatientName) for a in answers] == ["VIVALDI^ANTONIO"]
