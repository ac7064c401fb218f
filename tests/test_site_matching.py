"""The reference site's C-FIND matching and answers, clause by clause (site/matching.py,
site/pacs.py loading). Each test names the clause it holds the site to; the cases come
from where the site once disagreed with DCMTK wlmscpfs and PS3.4."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from interopgate.site.find import match_options
from interopgate.site.matching import MatchOptions, dataset_matches, response_for
from interopgate.site.pacs import ReferenceSite
from tests.worklist_items import dataset_from_spec, worklist_item

STANDARD = MatchOptions()
EMPTY_CODE_KEYS = {"CodeValue": "", "CodingSchemeDesignator": "", "CodeMeaning": ""}


def _matches(query: dict, stored: dict, options: MatchOptions = STANDARD) -> bool:
    return dataset_matches(dataset_from_spec(query), dataset_from_spec(stored), options)


def _answer(query: dict, stored: dict) -> Dataset:
    return response_for(dataset_from_spec(query), dataset_from_spec(stored), STANDARD)


# ------------------------------------------------- sequence keys asking for return keys


@pytest.mark.parametrize(
    "query",
    [
        {"RequestedProcedureCodeSequence": [EMPTY_CODE_KEYS]},
        {"ScheduledProcedureStepSequence": [{"ScheduledProtocolCodeSequence": [EMPTY_CODE_KEYS]}]},
        {"ReferencedStudySequence": [{"ReferencedSOPInstanceUID": ""}]},
    ],
    ids=["top-level", "nested in the SPS item", "UI item key"],
)
def test_sequence_key_with_only_zero_length_item_keys_matches_an_entity_without_it(query):
    """PS3.4 C.2.2.2.3 / C.2.2.2.6: zero-length item keys match item by item, so the
    sequence key selects nothing; in a worklist request such keys are return keys
    (K.2.2.1.2). An entity without the sequence (or with no item) still matches."""
    without = {"AccessionNumber": "A1", "ScheduledProcedureStepSequence": [{"Modality": "CR"}]}
    with_no_item = {**without, "RequestedProcedureCodeSequence": [], "ReferencedStudySequence": []}
    assert _matches(query, without)
    assert _matches(query, with_no_item)


def test_sequence_key_with_an_item_value_still_needs_a_matching_item():
    """C.2.2.2.6: one item key with a value: an entity matches only with an item that
    matches it; without the sequence it does not."""
    query = {"RequestedProcedureCodeSequence": [{**EMPTY_CODE_KEYS, "CodeValue": "36643-5"}]}
    assert not _matches(query, {"AccessionNumber": "A1"})
    assert _matches(query, {"RequestedProcedureCodeSequence": [{"CodeValue": "36643-5"}]})
    assert not _matches(query, {"RequestedProcedureCodeSequence": [{"CodeValue": "24673-3"}]})


def test_type_1c_code_sequence_the_entity_lacks_is_left_out_of_the_answer():
    """Table K.6-1: Requested Procedure Code Sequence and Scheduled Protocol Code
    Sequence are Type 1C return keys: present with an item or absent, never empty
    (PS3.5 7.4), as wlmscpfs answers. A Type 2 sequence (Referenced Study Sequence)
    the entity lacks comes back empty (C.2.2.1.2)."""
    query = {
        "AccessionNumber": "",
        "RequestedProcedureCodeSequence": [EMPTY_CODE_KEYS],
        "ReferencedStudySequence": [{"ReferencedSOPClassUID": "", "ReferencedSOPInstanceUID": ""}],
        "ScheduledProcedureStepSequence": [
            {"Modality": "", "ScheduledProtocolCodeSequence": [EMPTY_CODE_KEYS]}
        ],
    }
    answer = _answer(
        query, {"AccessionNumber": "A1", "ScheduledProcedureStepSequence": [{"Modality": "CR"}]}
    )
    assert "RequestedProcedureCodeSequence" not in answer
    assert answer.ReferencedStudySequence == []
    (step,) = answer.ScheduledProcedureStepSequence
    assert step.Modality == "CR"
    assert "ScheduledProtocolCodeSequence" not in step
    present = _answer(query, {"RequestedProcedureCodeSequence": [{"CodeValue": "36643-5"}]})
    assert [item.CodeValue for item in present.RequestedProcedureCodeSequence] == ["36643-5"]


def test_universal_excludes_absent_fault_still_needs_the_sequence():
    """The universal-excludes-absent defect reads zero-length item keys as needing the
    attribute, so an entity without the sequence is left out (the fault still breaks
    dicom.find.universal only)."""
    options = match_options({"universal-excludes-absent"})
    query = {"RequestedProcedureCodeSequence": [EMPTY_CODE_KEYS]}
    assert not _matches(query, {"AccessionNumber": "A1"}, options)


# ------------------------------------------------- group length


def test_group_length_elements_are_not_keys_in_any_group():
    """PS3.5 7.2: Group Length (gggg,0000) is encoding, not an attribute of the worklist
    model (Table K.6-1): never matched, never returned, at the top level and in items."""
    query = dataset_from_spec(
        {"AccessionNumber": "", "ScheduledProcedureStepSequence": [{"Modality": "CR"}]}
    )
    query.add_new(0x00080000, "UL", 156)
    query.add_new(0x00400000, "UL", 224)
    query.add_new(0x00100000, "UL", 114)
    query.ScheduledProcedureStepSequence[0].add_new(0x00080000, "UL", 8)
    stored = dataset_from_spec(
        {"AccessionNumber": "A1", "ScheduledProcedureStepSequence": [{"Modality": "CR"}]}
    )
    assert dataset_matches(query, stored, STANDARD)
    answer = response_for(query, stored, STANDARD)
    assert all(e.tag.element != 0 for e in answer)
    assert all(e.tag.element != 0 for e in answer.ScheduledProcedureStepSequence[0])
    assert not dataset_matches(query, dataset_from_spec({"AccessionNumber": "A1"}), STANDARD)


# ------------------------------------------------- '*' alone


@pytest.mark.parametrize("key", ["*", "**", "* "])
@pytest.mark.parametrize("stored", ["", None, "X"], ids=["zero-length", "absent", "a value"])
@pytest.mark.parametrize(
    "keyword", ["CommentsOnTheScheduledProcedureStep", "PatientName", "ScheduledStationAETitle"]
)
def test_star_alone_is_universal_matching(keyword, stored, key):
    """C.2.2.2.4 note 1: wild card matching on '*' is universal matching; K.2.2.1.1.1
    note 1: a zero-length value can be queried by a single wild card. LT, PN and AE
    alike (a padding space is not significant in PN and AE, PS3.5 6.2)."""
    value = {} if stored is None else {keyword: stored}
    if keyword == "PatientName":
        query, entity = {keyword: key}, {"AccessionNumber": "A1", **value}
    else:
        key = key.strip() if keyword.startswith("Comments") else key
        query = {"ScheduledProcedureStepSequence": [{keyword: key}]}
        entity = {"ScheduledProcedureStepSequence": [{"Modality": "CR", **value}]}
    assert _matches(query, entity)


def test_star_with_other_characters_still_needs_a_value():
    """K.2.2.1.1.1: a zero-length value fails every matching key value but '*' alone."""
    assert not _matches({"PatientName": "D*"}, {"PatientName": ""})
    assert not _matches({"PatientName": "*^*"}, {})
    assert _matches({"PatientName": "D*"}, {"PatientName": "DOE^JANE"})


# The '*' in a DA key is the point of the test: pydicom's warning about it is expected.
@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_star_is_no_wildcard_in_a_date_or_under_the_wildcard_ignored_fault():
    """C.2.2.2.4 excludes DA (and the other non-text VRs) from wild card matching; the
    wildcard-ignored defect compares '*' as a character."""
    assert not _matches({"PatientBirthDate": "*"}, {"PatientBirthDate": "19700101"})
    options = match_options({"wildcard-ignored"})
    assert not _matches({"PatientName": "*"}, {"PatientName": "DOE^JANE"}, options)


# ------------------------------------------------- matching items only


def test_matched_sequence_returns_only_the_matching_items():
    """C.2.2.2.6: 'a sequence of matching Items containing only the requested
    Attributes is returned'."""
    stored = {
        "AccessionNumber": "A1",
        "ScheduledProcedureStepSequence": [
            {"Modality": "CR", "ScheduledProcedureStepID": "S1", "ScheduledStationName": "R1"},
            {"Modality": "MR", "ScheduledProcedureStepID": "S2", "ScheduledStationName": "R2"},
        ],
    }
    answer = _answer(
        {"ScheduledProcedureStepSequence": [{"Modality": "MR", "ScheduledProcedureStepID": ""}]},
        stored,
    )
    assert [
        (s.Modality, s.ScheduledProcedureStepID) for s in answer.ScheduledProcedureStepSequence
    ] == [("MR", "S2")]
    assert "ScheduledStationName" not in answer.ScheduledProcedureStepSequence[0]
    every = _answer({"ScheduledProcedureStepSequence": [{"Modality": ""}]}, stored)
    assert [s.Modality for s in every.ScheduledProcedureStepSequence] == ["CR", "MR"]
    whole = _answer({"ScheduledProcedureStepSequence": [{}]}, stored)
    assert [s.ScheduledStationName for s in whole.ScheduledProcedureStepSequence] == ["R1", "R2"]


# ------------------------------------------------- loading


def test_items_sharing_an_accession_without_sps_id_are_both_kept():
    """A site stores what it was given: one Accession Number spans the procedures and
    steps of its request (PS3.3 C.4.11, C.4.12), and steps without an SPS ID cannot be
    told apart, so two such items are two entities, not one re-seeded."""
    site = ReferenceSite()
    first, second = worklist_item("P1", "DOE^JANE", "AN1"), worklist_item("P2", "ROE^ANN", "AN1")
    for item in (first, second):
        item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID = ""
    site.add_worklist_items([first, second])
    assert [str(w.PatientID) for w in site.worklist] == ["P1", "P2"]


def test_the_same_step_seeded_again_replaces_the_old_item():
    """Re-seeding stays idempotent for an item that names its step completely
    (Accession Number, Requested Procedure ID, SPS ID)."""
    site = ReferenceSite()
    site.add_worklist_items([worklist_item("P1", "DOE^JANE", "AN1")])
    site.add_worklist_items([worklist_item("P1", "DOE^JANE", "AN1")])
    assert len(site.worklist) == 1
    other_procedure = worklist_item("P1", "DOE^JANE", "AN1")
    other_procedure.RequestedProcedureID = "RP-OTHER"
    site.add_worklist_items([other_procedure])
    assert len(site.worklist) == 2
