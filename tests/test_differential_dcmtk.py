"""Differential self-test: the embedded reference site against DCMTK servers.

Every fault-matrix row trusts the clean site, so the site's C-FIND matching (PS3.4
C.2.2.2, K.2.2) is checked against servers nobody here wrote: wlmscpfs (Modality
Worklist) and dcmqrscp (Study Root, STUDY level). Hypothesis generates the data and the
queries (single value, wildcard, range, universal, list of UIDs and sequence matching;
PN LO SH CS DA TM AE UI LT; padded, zero-length and absent values, group-length and
private elements). Both servers hold the same data (the site in memory; wlmscpfs as
``.wl`` files it re-reads on every query, dcmqrscp by C-STORE into an emptied storage
area) and the same pynetdicom client sends each query to both. The returned entities
and values must agree.

A disagreement passes only when the adjudicated departures below explain it exactly:
each one says how the DCMTK server reads a query (or shapes an answer) differently,
with the clause; the site, asked the query as that server reads it, must then answer
what the server answered. Anything else fails, with the data, the query and both
answers.

The seed is fixed and printed (``INTEROPGATE_DIFF_SEED`` replays another one); the
default run is bounded (40 worklist examples, 20 s), ``-m differential_full`` runs 120
(.ci/run does, after the rest), ``-m differential_long`` many more. Each server starts once per module; without it its test is skipped, unless
``INTEROPGATE_REQUIRE_TARGETS=1``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image
from interopgate.dicom.association import Endpoint
from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.site.matching import MatchOptions, dataset_matches
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets import process
from tests.worklist_items import (
    CALLING_AE,
    MWL,
    dataset_from_spec,
    group_lengths_on_the_wire,
    query_dataset,
)
from tests.worklist_items import WorklistPeer as Peer

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

SEED = int(os.environ.get("INTEROPGATE_DIFF_SEED", "20240916"))
DEFAULT_EXAMPLES = 40  # pytest tests: a quick pass
FULL_EXAMPLES = 120  # -m differential_full, which .ci/run runs with the full fault matrix
STUDY_EXAMPLES = 40
STUDY_FIND = sop.StudyRootQueryRetrieveInformationModelFind
LONG_EXAMPLES = 1500
ABSENT = "<absent>"  # a spec value: the attribute is left out
NO_MATCH = "IGNOMATCH"  # a key value no generated item holds
UID_ROOT = "1.2.826.0.1.3680043.10.543"

# --------------------------------------------------------------------------- vocabulary

# Small pools, so that generated keys hit generated items often. No stored value holds
# '*', '?', '\\' or '-'. Times are whole seconds.
TOP: dict[str, list[Any]] = {
    "PatientName": ["DOE^JANE", "DOE^JOHN", "DOE^JO", "ROE^ANN", "doe^jane"],  # PN
    "PatientID": ["P1", "P12", "P123", "p12"],  # LO
    "AccessionNumber": ["A1", "A22", "A333"],  # SH
    "PatientSex": ["M", "F", "O"],  # CS
    "PatientBirthDate": ["19700101", "19851231", "20000229"],  # DA
    "RequestedProcedureID": ["RP1", "RP22"],  # SH
    "RequestingPhysician": ["SMITH", "SMITH^ANN", "JONES^B"],  # PN
    "ReferringPhysicianName": ["SMITH", "BROWN^C"],  # PN
    "AdmissionID": ["AD1", "AD22"],  # LO
    "RequestedProcedurePriority": ["LOW", "HIGH"],  # SH
    "RequestedProcedureDescription": ["CHEST PA", "CHEST", "HAND"],  # LO
    "MedicalAlerts": ["NONE", "LATEX"],  # LO
}
SPS: dict[str, list[Any]] = {
    "ScheduledStationAETitle": ["AA32", "AA33", "AB45", ["AA32", "AA33"]],  # AE
    "Modality": ["CR", "MR", "CT"],  # CS
    "ScheduledProcedureStepStartDate": ["20240915", "20240916", "20240917"],  # DA
    "ScheduledProcedureStepStartTime": ["080000", "083000", "083045", "120000"],  # TM
    "ScheduledPerformingPhysicianName": ["RAD^RUTH", "RAD^R"],  # PN
    "ScheduledProcedureStepID": ["S1", "S22"],  # SH
    "ScheduledProcedureStepDescription": ["CHEST PA", "HAND"],  # LO
    "ScheduledStationName": ["ROOM1", "ROOM22"],  # SH
    "ScheduledProcedureStepLocation": ["WING A", "WING B"],  # SH
    "CommentsOnTheScheduledProcedureStep": ["FASTING", "NONE"],  # LT
}
CODE: dict[str, list[Any]] = {
    "CodeValue": ["36643-5", "24673-3"],
    "CodingSchemeDesignator": ["LN"],
    "CodeMeaning": ["XR Chest", "XR Hand"],
}
REFERENCED: dict[str, list[Any]] = {
    "ReferencedSOPClassUID": ["1.2.840.10008.3.1.2.3.1"],
    "ReferencedSOPInstanceUID": ["1.2.3.4.5", "1.2.3.4.6"],
}
CODE_ATTRIBUTES = ("CodeValue", "CodingSchemeVersion", "CodingSchemeDesignator", "CodeMeaning")
PRIVATE_CREATOR, PRIVATE_VALUE = "0009,0010 LO", "0009,1001 LO"
VR = {
    **dict.fromkeys(["PatientName", "RequestingPhysician", "ReferringPhysicianName"], "PN"),
    "ScheduledPerformingPhysicianName": "PN",
    **dict.fromkeys(["PatientID", "AdmissionID", "RequestedProcedureDescription"], "LO"),
    **dict.fromkeys(["MedicalAlerts", "ScheduledProcedureStepDescription", "CodeMeaning"], "LO"),
    **dict.fromkeys(["AccessionNumber", "RequestedProcedureID", "CodeValue"], "SH"),
    **dict.fromkeys(["RequestedProcedurePriority", "ScheduledProcedureStepID"], "SH"),
    **dict.fromkeys(["ScheduledStationName", "ScheduledProcedureStepLocation"], "SH"),
    "CodingSchemeDesignator": "SH",
    PRIVATE_VALUE: "LO",
    **dict.fromkeys(["PatientSex", "Modality"], "CS"),
    **dict.fromkeys(["PatientBirthDate", "ScheduledProcedureStepStartDate"], "DA"),
    "ScheduledProcedureStepStartTime": "TM",
    "ScheduledStationAETitle": "AE",
    "CommentsOnTheScheduledProcedureStep": "LT",
    **dict.fromkeys(["ReferencedSOPClassUID", "ReferencedSOPInstanceUID"], "UI"),
}
WILDCARD_VRS = {"PN", "LO", "SH", "CS", "AE", "LT"}

# What wlmscpfs (3.6.7, dcmwlm) matches on: wlfsim.cc MatchingKeys. Keys flagged False
# there are compared without wildcards. Every other key is read as a return key.
WLM_MATCHED_TOP = {
    "PatientName": True,
    "PatientID": False,
    "AccessionNumber": True,
    "RequestedProcedureID": True,
    "ReferringPhysicianName": True,
    "PatientSex": True,
    "RequestingPhysician": True,
    "AdmissionID": True,
    "RequestedProcedurePriority": True,
    "PatientBirthDate": True,
}
WLM_MATCHED_SPS = {
    "ScheduledStationAETitle": False,
    "Modality": False,
    "ScheduledPerformingPhysicianName": True,
    "ScheduledProcedureStepStartDate": True,
    "ScheduledProcedureStepStartTime": True,
}

# --------------------------------------------------------------------------- generators


def _stored(pool: Sequence[Any], vr: str) -> st.SearchStrategy[Any]:
    """A stored value: mostly from the pool, sometimes padded, zero-length or absent."""
    padded = [v + " " for v in pool if isinstance(v, str) and vr in WILDCARD_VRS][:1]
    return st.sampled_from([ABSENT, "", *pool, *pool, *padded])


def _stored_item(vocabulary: Mapping[str, list[Any]]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({k: _stored(pool, VR[k]) for k, pool in vocabulary.items()})


def _code_sequence() -> st.SearchStrategy[Any]:
    empty_codes = {"CodeValue": "", "CodingSchemeDesignator": "", "CodeMeaning": ""}
    return st.one_of(
        st.sampled_from([ABSENT, ABSENT, []]),
        st.lists(_stored_item(CODE), min_size=1, max_size=2),
        st.just([empty_codes]),
    )


def _referenced_sequence() -> st.SearchStrategy[Any]:
    empty_refs = {"ReferencedSOPClassUID": "", "ReferencedSOPInstanceUID": ""}
    return st.one_of(
        st.sampled_from([ABSENT, []]),
        st.lists(_stored_item(REFERENCED), min_size=1, max_size=2),
        st.just([empty_refs]),
    )


@st.composite
def worklist_items(draw) -> list[dict]:
    """1 to 6 items; each has its own Study Instance UID (the identity of an answer)."""
    items = []
    for index in range(draw(st.integers(1, 6))):
        item = draw(_stored_item(TOP))
        steps = []
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 2]))):
            step = draw(_stored_item(SPS))
            step["ScheduledProtocolCodeSequence"] = draw(_code_sequence())
            steps.append(step)
        item["ScheduledProcedureStepSequence"] = (
            steps if steps else draw(st.sampled_from([ABSENT, []]))
        )
        item["RequestedProcedureCodeSequence"] = draw(_code_sequence())
        item["ReferencedStudySequence"] = draw(_referenced_sequence())
        private = draw(st.sampled_from([ABSENT, "X1", "X22"]))
        if private != ABSENT:
            item[PRIVATE_CREATOR], item[PRIVATE_VALUE] = "IG PRIVATE", private
        item["StudyInstanceUID"] = f"{UID_ROOT}.{index + 1}"
        items.append(_drop_absent(item))
    return _distinct_steps(items)


def _distinct_steps(items: list[dict]) -> list[dict]:
    """No two items name the same step (Accession Number, Requested Procedure ID, SPS
    ID all set and equal): the site takes such an item for the step re-seeded."""
    seen = set()
    for item in items:
        steps = item.get("ScheduledProcedureStepSequence") or [{}]
        key = tuple(
            str(v).strip()
            for v in (
                item.get("AccessionNumber", ""),
                item.get("RequestedProcedureID", ""),
                steps[0].get("ScheduledProcedureStepID", ""),
            )
        )
        if all(key) and key in seen:
            steps[0]["ScheduledProcedureStepID"] = ""
        seen.add(key)
    return items


def _patterns(value: str) -> list[str]:
    """Wildcard keys built from a stored value (C.2.2.2.4)."""
    cut = max(1, len(value) // 2)
    return [
        value[:cut] + "*",
        "*" + value[cut:],
        value[:cut] + "?" + value[cut + 1 :],
        "*" + value[cut - 1 : cut] + "*",
        "?" * len(value),
        "*",
        "**",
    ]


@st.composite
def _key(draw, keyword: str, pool: Sequence[Any]) -> Any:
    vr = VR[keyword]
    value = draw(st.sampled_from([v for v in pool if isinstance(v, str)]))
    forms = ["universal", "single", "single"]
    if vr in WILDCARD_VRS:
        forms += ["padded"]
        forms += ["wildcard", "wildcard"]
    if vr in ("DA", "TM"):
        forms += ["range", "range"]
    form = draw(st.sampled_from(forms))
    if form == "universal":
        return ""
    if form == "padded":
        return value + " "
    if form == "wildcard":
        return draw(st.sampled_from(_patterns(value)))
    if form == "range":
        other = draw(st.sampled_from([v for v in pool if isinstance(v, str)]))
        low, high = sorted([value, other])
        if vr == "TM" and draw(st.booleans()):
            low, high = low[:4], high[:4]
        return draw(st.sampled_from([f"{low}-{high}", f"-{high}", f"{low}-"]))
    if vr == "TM" and draw(st.booleans()):
        return value[:4]  # lower precision
    return value


def _query_item(vocabulary: Mapping[str, list[Any]], most: int) -> st.SearchStrategy[dict]:
    keys = st.lists(st.sampled_from(sorted(vocabulary)), max_size=most, unique=True)
    return keys.flatmap(
        lambda chosen: st.fixed_dictionaries({k: _key(k, vocabulary[k]) for k in chosen})
    )


def _sequence_key(vocabulary: Mapping[str, list[Any]], most: int) -> st.SearchStrategy[Any]:
    """A sequence key: zero-length, one empty item, item keys all zero-length (return
    keys only), or item keys with values (C.2.2.2.6)."""
    return_keys = {k: "" for k in vocabulary}
    return st.one_of(
        st.sampled_from([ABSENT, ABSENT, [], [{}], [return_keys]]),
        _query_item(vocabulary, most).map(lambda item: [item]),
    )


@st.composite
def worklist_queries(draw, item_count: int) -> dict:
    query = draw(_query_item(TOP, 4))
    step = draw(_sequence_key(SPS, 4))
    if isinstance(step, list) and step and step[0] and draw(st.booleans()):
        step[0]["ScheduledProtocolCodeSequence"] = draw(_sequence_key(CODE, 2))
    query["ScheduledProcedureStepSequence"] = step
    query["RequestedProcedureCodeSequence"] = draw(_sequence_key(CODE, 2))
    query["ReferencedStudySequence"] = draw(_sequence_key(REFERENCED, 1))
    uids = draw(
        st.one_of(
            st.just(""),
            st.lists(st.integers(0, item_count), min_size=1, max_size=3, unique=True),
        )
    )
    # index 0 is a UID no item has; C.2.2.2.2 list of UIDs
    query["StudyInstanceUID"] = (
        [f"{UID_ROOT}.{i}" if i else f"{UID_ROOT}.999" for i in uids] if uids else ""
    )
    private = draw(st.sampled_from([ABSENT, ABSENT, "", "X1", "X*"]))
    if private != ABSENT:
        query[PRIVATE_CREATOR], query[PRIVATE_VALUE] = "IG PRIVATE", private
    query = _drop_absent(query)
    query["group_lengths"] = draw(st.booleans())
    return query


@st.composite
def worklist_cases(draw) -> tuple[list[dict], list[dict]]:
    items = draw(worklist_items())
    queries = draw(st.lists(worklist_queries(len(items)), min_size=1, max_size=4))
    return items, queries


def _drop_absent(spec: Any) -> Any:
    if isinstance(spec, dict):
        return {k: _drop_absent(v) for k, v in spec.items() if not _is_absent(v)}
    if isinstance(spec, list) and spec and isinstance(spec[0], dict):
        return [_drop_absent(item) for item in spec]
    return spec


def _is_absent(value: Any) -> bool:
    return isinstance(value, str) and value == ABSENT


# Study Root at STUDY level (PS3.4 C.6.2): patients, and their studies, one instance each.
PATIENT: dict[str, list[Any]] = {
    "PatientName": TOP["PatientName"],
    "PatientBirthDate": TOP["PatientBirthDate"],
    "PatientSex": TOP["PatientSex"],
}
STUDY: dict[str, list[Any]] = {
    "StudyDate": ["20240915", "20240916", "20240917"],  # DA
    "StudyTime": ["080000", "083000", "083045", "120000"],  # TM
    "AccessionNumber": TOP["AccessionNumber"],  # SH
    "StudyID": ["1", "22", "333"],  # SH
    "StudyDescription": ["CHEST PA", "CHEST", "HAND"],  # LO
    "ReferringPhysicianName": TOP["ReferringPhysicianName"],  # PN
}
VR.update({"StudyDate": "DA", "StudyTime": "TM", "StudyID": "SH", "StudyDescription": "LO"})


@st.composite
def studies(draw) -> list[dict]:
    """1 to 6 studies of 1 to 3 patients; patient attributes are the patient's own."""
    patient_ids = draw(
        st.lists(st.sampled_from(["P1", "P12", "P123", "p12"]), min_size=1, max_size=3, unique=True)
    )
    patients = [{"PatientID": pid, **draw(_stored_item(PATIENT))} for pid in patient_ids]
    out = []
    for index in range(draw(st.integers(1, 6))):
        patient = draw(st.sampled_from(patients))
        study = {**patient, **draw(_stored_item(STUDY))}
        study["StudyInstanceUID"] = f"{UID_ROOT}.{index + 1}"
        out.append(_drop_absent(study))
    return out


@st.composite
def study_queries(draw, study_count: int) -> dict:
    query = {
        "QueryRetrieveLevel": "STUDY",
        **draw(_query_item({**PATIENT, "PatientID": TOP["PatientID"], **STUDY}, 4)),
    }
    uids = draw(
        st.one_of(
            st.just(""), st.lists(st.integers(0, study_count), min_size=1, max_size=3, unique=True)
        )
    )
    query["StudyInstanceUID"] = (
        [f"{UID_ROOT}.{i}" if i else f"{UID_ROOT}.999" for i in uids] if uids else ""
    )
    return query


@st.composite
def study_cases(draw) -> tuple[list[dict], list[dict]]:
    items = draw(studies())
    return items, draw(st.lists(study_queries(len(items)), min_size=1, max_size=4))


def study_instance(study: Mapping[str, Any]) -> Dataset:
    """A small Secondary Capture instance carrying the study's attributes (absent ones
    left out): what both archives store."""
    patient = SimpleNamespace(dicom_name="", patient_id="", dicom_birth_date="", sex="")
    ds = make_image(sop.SecondaryCaptureImageStorage, patient, rows=8, columns=8)
    for keyword in [*PATIENT, *STUDY]:
        if keyword in ds:
            del ds[keyword]
    ds.update(dataset_from_spec(study))
    return ds


# --------------------------------------------------------------------------- the wire


# --------------------------------------------------------------------------- answers

PADDED = {"AE", "CS", "DA", "TM", "LO", "PN", "SH", "DS", "IS"}


def _value(element) -> str:
    value = element.value
    if value is None:
        return ""
    values = (
        value
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"
        else [value]
    )
    strip = (lambda v: v.strip(" ")) if element.VR in PADDED else (lambda v: v.rstrip(" \0"))
    return "\\".join(strip(str(v)) for v in values)


def _expanded(key) -> bool:
    """A sequence key wlmscpfs expands to its whole attribute list (wlds.cc): zero-length
    or one item without attributes."""
    return key is None or not key.value or len(key.value[0]) == 0


# Returned besides the requested keys where needed or allowed (C.4.1.1.3.2, K.4.1.2.2).
RETURNED_BESIDES = {"SpecificCharacterSet", "RetrieveAETitle"}


def canonical(ds: Dataset, query: Dataset | None, expand: bool, inside: bool = False) -> tuple:
    """An answer as a sorted tuple of (tag, value), items as sorted tuples, without
    RETURNED_BESIDES and group lengths. With ``expand`` (the universal-sequence departure), inside a
    sequence asked for whole, zero-length elements and empty sequences are left out."""
    out = []
    for element in ds:
        if element.tag.element == 0 or element.keyword in RETURNED_BESIDES:
            continue
        if element.VR == "SQ":
            key = query.get(element.tag) if query is not None else None
            whole = expand and (inside or _expanded(key))
            item_key = key.value[0] if key is not None and key.value else None
            items = tuple(sorted(canonical(i, item_key, expand, whole) for i in element.value))
            if whole:
                items = tuple(i for i in items if i)
            if whole and not items:
                continue
            out.append((int(element.tag), items))
        else:
            value = _value(element)
            if inside and value == "":
                continue
            out.append((int(element.tag), value))
    return tuple(sorted(out))


def answer_set(answers: Sequence[Dataset], query: Dataset, expand: bool = False) -> list[tuple]:
    return sorted(canonical(a, query, expand) for a in answers)


# --------------------------------------------------------------------------- departures


def _map_keys(spec: dict, change: Callable[[str, Any, str], Any], where: str = "top") -> dict:
    """A copy of a query spec with ``change(keyword, value, where)`` applied to every key
    (sequences recursed; ``where`` names the sequence the key is in)."""
    out = {}
    for keyword, value in spec.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[keyword] = [_map_keys(item, change, keyword) for item in value]
        else:
            out[keyword] = change(keyword, value, where)
    return out


def _return_keys_only(spec: dict, items: list[dict]) -> dict:
    """wlmscpfs matches only on the keys of WLM_MATCHED_*; any other key, with a value,
    it reads as a return key (wlds.cc: "the specified value will be overridden")."""

    def change(keyword: str, value: Any, where: str) -> Any:
        if keyword == "group_lengths" or keyword.startswith("0009,"):
            return value
        if where == "top" and keyword in WLM_MATCHED_TOP:
            return value
        if where == "ScheduledProcedureStepSequence" and keyword in WLM_MATCHED_SPS:
            return value
        return "" if isinstance(value, (str, list)) else value

    return _map_keys(spec, change)


def _without_private(spec: dict, items: list[dict]) -> dict:
    return {k: v for k, v in spec.items() if not k.startswith("0009,")}


def _literal_wildcards(spec: dict, items: list[dict]) -> dict:
    """Patient ID, Scheduled Station AE Title and Modality: '*' and '?' are compared as
    characters, and no generated item holds them. A key of '*' only matches every item
    (wlfsim.cc DatasetMatchesSearchMask), yet makes the SPS key one that needs an item
    (IsUniversalMatch reads it without wildcards): entities without SPS items drop out."""

    def change(keyword: str, value: Any, where: str) -> Any:
        flags = WLM_MATCHED_TOP if where == "top" else WLM_MATCHED_SPS
        if flags.get(keyword, True) or not isinstance(value, str):
            return value
        text = value.strip(" ")
        if ("*" in text or "?" in text) and set(text) != {"*"}:
            return NO_MATCH
        return value

    rewritten = _map_keys(spec, change)
    steps = spec.get("ScheduledProcedureStepSequence")
    step_key = steps[0] if isinstance(steps, list) and steps else {}
    needs_an_item = any(
        isinstance(value, str)
        and keyword in WLM_MATCHED_SPS
        and value.strip(" ")
        and not (WLM_MATCHED_SPS[keyword] and set(value.strip(" ")) == {"*"})
        for keyword, value in step_key.items()
    )
    if needs_an_item:
        having = [i["StudyInstanceUID"] for i in items if i.get("ScheduledProcedureStepSequence")]
        asked = rewritten.get("StudyInstanceUID")
        if isinstance(asked, list):
            having = [uid for uid in having if uid in asked]
        rewritten["StudyInstanceUID"] = having or [f"{UID_ROOT}.999"]
    return rewritten


START_DATE, START_TIME = "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime"
Moment = tuple[int, ...]


def _dcmtk_date(text: str) -> Moment | None:
    text = text.strip()
    return (int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None


def _dcmtk_time(text: str) -> Moment | None:
    """A TM value as DCMTK's OFTime reads it: missing minutes and seconds are zero."""
    digits = text.strip().replace(":", "")
    whole, _, fraction = digits.partition(".")
    if len(whole) not in (2, 4, 6) or not whole.isdigit():
        return None
    hour, minute, second = int(whole[:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
    return hour, minute, second, int(fraction.ljust(6, "0")[:6] or 0)


def _in_dcmtk_range(parse: Callable[[str], Moment | None], key: str, value: Moment) -> bool:
    """dcmatch.cc rangeMatchingTemplate: a single value or an A-B, -B, A- range."""
    low, dash, high = key.partition("-")
    first = parse(low) if low else None
    if (low and first is None) or (high and parse(high) is None):
        return False
    if not dash:
        return bool(low) and first == value
    return (not low or first <= value) and (not high or parse(high) >= value)


def _dcmtk_date_time(date_key: str, time_key: str, date: str, time: str) -> bool:
    """dcmatch.cc rangeMatchingDateTime: SPS Start Date and Time read as one moment; a
    zero-length stored time is 00:00:00; two ranges of one form are one range."""
    day, clock = _dcmtk_date(date), _dcmtk_time(time) if time.strip() else (0, 0, 0, 0)
    if day is None or clock is None:
        return False
    low_day, date_dash, high_day = date_key.partition("-")
    low_clock, time_dash, high_clock = time_key.partition("-")
    if (
        bool(date_dash) != bool(time_dash)
        or (not low_day and low_clock)
        or (date_dash and not high_day and high_clock)
    ):
        return _in_dcmtk_range(_dcmtk_date, date_key, day) and _in_dcmtk_range(
            _dcmtk_time, time_key, clock
        )
    midnight = (0, 0, 0, 0)
    first = (_dcmtk_date(low_day), _dcmtk_time(low_clock) if low_clock else midnight)
    if (low_day and first[0] is None) or (low_clock and first[1] is None):
        return False
    if not date_dash:
        return bool(low_day) and first == (day, clock)
    second = (_dcmtk_date(high_day), _dcmtk_time(high_clock) if high_clock else midnight)
    if (high_day and second[0] is None) or (high_clock and second[1] is None):
        return False
    return (not low_day or first <= (day, clock)) and (not high_day or second >= (day, clock))


def _dcmtk_step_matches(date_key: str, time_key: str, step: Mapping[str, Any]) -> bool:
    """wlfsim.cc DatasetMatchesSearchMask, combinedKeys: the SPS Start Date and Time
    keys against one stored SPS item (an absent attribute never matches)."""
    date_key, time_key = date_key.strip(), time_key.strip()
    if date_key:
        if START_DATE not in step or (time_key and START_TIME not in step):
            return False
        if time_key:
            return _dcmtk_date_time(date_key, time_key, step[START_DATE], step[START_TIME])
        day = _dcmtk_date(step[START_DATE])
        return day is not None and _in_dcmtk_range(_dcmtk_date, date_key, day)
    if time_key:
        clock = _dcmtk_time(step.get(START_TIME, ""))
        return clock is not None and _in_dcmtk_range(_dcmtk_time, time_key, clock)
    return True


def _dates_and_times_as_dcmtk(spec: dict, items: list[dict]) -> dict:
    """The SPS Start Date/Time keys decided as wlmscpfs decides them, item by item
    (with the step's other keys as the site matches them); the query then names the
    entities that pass by their Study Instance UIDs, the date and time keys left as
    return keys."""
    steps = spec.get("ScheduledProcedureStepSequence")
    if not (isinstance(steps, list) and steps and steps[0]):
        return spec
    key = steps[0]
    date_key, time_key = str(key.get(START_DATE, "")), str(key.get(START_TIME, ""))
    if not (date_key.strip() or time_key.strip()):
        return spec
    rest = dataset_from_spec({k: v for k, v in key.items() if k not in (START_DATE, START_TIME)})
    passing = [
        item["StudyInstanceUID"]
        for item in items
        if any(
            _dcmtk_step_matches(date_key, time_key, step)
            and dataset_matches(rest, dataset_from_spec(step), MatchOptions())
            for step in item.get("ScheduledProcedureStepSequence") or []
        )
    ]
    asked = spec.get("StudyInstanceUID")
    if isinstance(asked, list):
        passing = [uid for uid in passing if uid in asked]
    blanked = {k: ("" if k in (START_DATE, START_TIME) else v) for k, v in key.items()}
    return {
        **spec,
        "ScheduledProcedureStepSequence": [blanked],
        "StudyInstanceUID": passing or [f"{UID_ROOT}.999"],
    }


def _blank_sps_keys(spec: dict, uids: list[str]) -> dict:
    """The query answered with every SPS item of the entities ``uids`` (the matches)."""
    out = dict(spec)
    steps = out.get("ScheduledProcedureStepSequence")
    if isinstance(steps, list) and steps and steps[0]:
        out["ScheduledProcedureStepSequence"] = [
            _map_keys(steps[0], lambda k, v, w: "" if isinstance(v, (str, list)) else v)
        ]
    out["StudyInstanceUID"] = uids
    return out


def _echo_request_item(answer: Dataset, query: Dataset) -> None:
    """wldsfs.cc HandleSequenceElementInResultDataset: the answer starts as a copy of
    the request, and a sequence the entity has no item for keeps the request's item,
    key values and all."""
    for key in query:
        if key.VR != "SQ" or not key.value or len(key.value[0]) == 0:
            continue
        if key.tag not in answer or not answer[key.tag].value:
            answer.add_new(key.tag, "SQ", [_as_expanded(key.value[0])])
        else:
            for item in answer[key.tag].value:
                _echo_request_item(item, key.value[0])


# What wlmscpfs puts into a code or referenced sequence asked for whole (wlds.cc
# ExpandEmptySequenceInSearchMask).
EXPANSIONS = {
    "ScheduledProtocolCodeSequence": CODE_ATTRIBUTES,
    "RequestedProcedureCodeSequence": CODE_ATTRIBUTES,
    "ReferencedStudySequence": ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"),
}


def _as_expanded(item: Dataset) -> Dataset:
    """A request item as wlmscpfs holds it: its nested sequences asked for whole are
    expanded to zero-length attributes."""
    item = copy.deepcopy(item)
    for element in item:
        if element.VR == "SQ" and _expanded(element) and element.keyword in EXPANSIONS:
            element.value = [dataset_from_spec(dict.fromkeys(EXPANSIONS[element.keyword], ""))]
    return item


def _code_or_description(answer: Dataset, query: Dataset) -> None:
    """wldsfs.cc HandleExistentButEmptyDescriptionAndCodeSequenceAttributes, for the
    1C pairs of Table K.6-1: an empty code sequence (no item, or one item with empty
    Code Value and Coding Scheme Designator) is removed; otherwise an empty description
    is removed. The SPS pair in the first SPS item, then the requested procedure pair.
    wlmscpfs's answer holds every key of the (expanded) request, so a key the site left
    out because the entity lacks it counts as present and empty."""

    def pair(ds: Dataset, request: Dataset, description: str, codes: str) -> None:
        key = request.get(Tag(codes))  # the element, not its value
        if key is None:
            mask = Dataset()
        elif _expanded(key):
            mask = dataset_from_spec(dict.fromkeys(CODE_ATTRIBUTES, ""))
        else:
            mask = key.value[0]

        def empty(item: Dataset, keyword: str) -> bool:
            return (keyword in item or keyword in mask) and not item.get(keyword)

        # asked for but left out by the site: wlmscpfs had it empty, and removed it
        removed = key is not None and codes not in ds
        if codes in ds:
            items = ds[codes].value
            if not items or (
                len(items) == 1
                and empty(items[0], "CodeValue")
                and empty(items[0], "CodingSchemeDesignator")
            ):
                del ds[codes]
                removed = True
        if not removed and description in ds and not ds[description].value:
            del ds[description]

    steps = answer.get("ScheduledProcedureStepSequence")
    if steps:
        key = query.get(Tag("ScheduledProcedureStepSequence"))
        whole = key is None or _expanded(key)
        request = (
            dataset_from_spec({"ScheduledProtocolCodeSequence": []}) if whole else key.value[0]
        )
        pair(
            steps[0], request, "ScheduledProcedureStepDescription", "ScheduledProtocolCodeSequence"
        )
    pair(answer, query, "RequestedProcedureDescription", "RequestedProcedureCodeSequence")


def _referenced_without_empty_item(answer: Dataset, query: Dataset) -> None:
    """wldsfs.cc HandleExistentButEmptyReferencedStudyOrPatientSequenceAttributes: a
    Referenced Study/Patient Sequence whose one item has both UIDs empty loses it."""
    for keyword in ("ReferencedStudySequence", "ReferencedPatientSequence"):
        items = answer[keyword].value if keyword in answer else []
        if len(items) == 1:
            item = items[0]
            if (
                "ReferencedSOPClassUID" in item
                and not item.ReferencedSOPClassUID
                and "ReferencedSOPInstanceUID" in item
                and not item.ReferencedSOPInstanceUID
            ):
                answer[keyword].value = []


@dataclass(frozen=True)
class Departure:
    """How wlmscpfs departs from the site's reading of the standard, adjudicated."""

    name: str
    clause: str
    reason: str
    rewrite: Callable[[dict, list[dict]], dict] | None = None  # the query as wlmscpfs reads it
    shape: Callable[[Dataset, Dataset], None] | None = None  # (answer, request) reshaped
    all_items: bool = False  # wlmscpfs returns every item of a matched sequence
    expand: bool = False  # wlmscpfs expands a sequence asked for whole


DEPARTURES = [
    Departure(
        "optional-keys-not-matched",
        "PS3.4 K.2.2.1.1.2, Table K.6-1",
        "wlmscpfs matches on its list of keys only (wlfsim.cc MatchingKeys); every other "
        "key (Study Instance UID, SPS ID, Station Name, Location, Description, Comments, "
        "Medical Alerts, the code and referenced sequences) is processed as a return key, "
        "as the standard allows for an optional matching key",
        rewrite=_return_keys_only,
    ),
    Departure(
        "private-keys-ignored",
        "PS3.4 K.2.2.1.1.2, Table K.6-1",
        "wlmscpfs drops private attributes from the request (not in its return key list): "
        "neither matched nor returned",
        rewrite=_without_private,
    ),
    Departure(
        "no-wildcards-patient-id-ae-modality",
        "PS3.4 C.2.2.2.4",
        "wlmscpfs compares Patient ID, Scheduled Station AE Title and Modality without "
        "wildcards ('*' and '?' as characters), though LO, AE and CS are wildcard VRs; a "
        "key of '*' only matches every item, yet makes the SPS key one that needs an item",
        rewrite=_literal_wildcards,
    ),
    Departure(
        "sps-date-time-as-one-moment",
        "PS3.4 C.2.2.2.5, K.2.2.1.1.1",
        "wlmscpfs matches SPS Start Date and Time together as one date-time (dcmatch.cc "
        "rangeMatchingDateTime): a zero-length stored time counts as 00:00:00 (the site: "
        "a zero-length value matches no key), a TM key is a time at its own precision "
        "(0800-0830 leaves out 08:30:45; the site reads a bound to the end of its "
        "precision, and 0830 alone matches 083000), and two ranges of one form are one "
        "date-time range (the site matches date and time each on its own)",
        rewrite=_dates_and_times_as_dcmtk,
    ),
    Departure(
        "every-sps-item-returned",
        "PS3.4 C.2.2.2.6",
        "wlmscpfs returns every Scheduled Procedure Step item of a matching entity, not "
        "only the items that matched the sequence key",
        all_items=True,
    ),
    Departure(
        "whole-sequence-as-attribute-list",
        "PS3.4 C.2.2.2.6",
        "a sequence asked for whole (zero-length, or one empty item) comes back as "
        "wlmscpfs's list of attributes for it, zero-length where the item has none "
        "(wlds.cc ExpandEmptySequenceInSearchMask), not as the stored items",
        expand=True,
    ),
    Departure(
        "request-item-echoed",
        "PS3.4 C.2.2.1.2, C.2.2.2.6",
        "for a requested sequence the entity has no item for, wlmscpfs returns the "
        "request's item, with the key values it was sent (values the entity does not "
        "hold), instead of a sequence without items",
        shape=_echo_request_item,
    ),
    Departure(
        "code-sequence-or-description",
        "PS3.4 Table K.6-1 (1C pairs), PS3.5 7.4",
        "wlmscpfs removes an empty code sequence (no item, or one with empty Code Value "
        "and Coding Scheme Designator), else an empty description, from each answer "
        "(wldsfs.cc HandleExistentButEmptyDescriptionAndCodeSequenceAttributes)",
        shape=_code_or_description,
    ),
    Departure(
        "referenced-sequence-empty-item",
        "PS3.4 Table K.6-1, PS3.5 7.4",
        "wlmscpfs removes the one item of a Referenced Study/Patient Sequence whose UIDs "
        "are both empty",
        shape=_referenced_without_empty_item,
    ),
]


def _times_at_their_precision(spec: dict, items: list[dict]) -> dict:
    """TM keys read as times (DCMTK OFTime): 0830 is 08:30:00, as a single value and as
    a range bound alike."""

    def full(text: str) -> str:
        return text.ljust(6, "0") + ".000000" if text else text

    def change(keyword: str, value: Any, where: str) -> Any:
        if VR.get(keyword) != "TM" or not isinstance(value, str) or not value.strip():
            return value
        low, dash, high = value.strip().partition("-")
        return f"{full(low)}-{full(high)}" if dash else low.ljust(6, "0")

    return _map_keys(spec, change)


# dcmqrscp (Study Root, STUDY level): what it reads differently, adjudicated.
STUDY_DEPARTURES: list[Departure] = [
    Departure(
        "times-at-their-precision",
        "PS3.4 C.2.2.2.1, C.2.2.2.5",
        "dcmqrscp reads a TM key as a time at its own precision: 0830 alone matches a "
        "stored 083000, and 0800-0830 leaves out 08:30:45 (the site compares a single "
        "value as written and reads a range bound to the end of its precision)",
        rewrite=_times_at_their_precision,
    ),
]


# --------------------------------------------------------------------------- verdicts


@dataclass
class Verdict:
    agreed: bool
    departures: tuple[str, ...] = ()
    report: str = ""


def _explains(
    departures: Sequence[Departure],
    spec: dict,
    items: list[dict],
    site: Peer,
    observed: list[Dataset],
) -> bool:
    """Whether the site, asked the query as these departures say the DCMTK server reads
    it, gives that server's answer (``observed``)."""
    return _as_dcmtk_would(departures, spec, items, site, observed)[0]


def _as_dcmtk_would(
    departures: Sequence[Departure],
    spec: dict,
    items: list[dict],
    site: Peer,
    observed: list[Dataset],
) -> tuple[bool, list[Dataset]]:
    rewritten = spec
    for departure in departures:
        if departure.rewrite:
            rewritten = departure.rewrite(rewritten, items)
    answers = site.find(rewritten)
    if answers and any(d.all_items for d in departures):
        uids = [str(a.get("StudyInstanceUID", "")) for a in answers]
        answers = site.find(_blank_sps_keys(rewritten, uids))
    query = query_dataset(spec)
    for departure in departures:
        if departure.shape:
            for answer in answers:
                departure.shape(answer, query)
    expand = any(d.expand for d in departures)
    return answer_set(answers, query, expand) == answer_set(observed, query, expand), answers


def judge(
    spec: dict,
    items: list[dict],
    site: Peer,
    other: Peer,
    departures: Sequence[Departure],
    name: str = "wlmscpfs",
) -> Verdict:
    """Agreement, agreement once named departures are applied (reduced to a smallest
    set that still explains it), or a disagreement with both answers."""
    query = query_dataset(spec)
    from_site, from_other = site.find(spec), other.find(spec)
    if answer_set(from_site, query) == answer_set(from_other, query):
        return Verdict(True)
    if _explains(departures, spec, items, site, from_other):
        needed = list(departures)
        for departure in departures:
            fewer = [d for d in needed if d is not departure]
            if _explains(fewer, spec, items, site, from_other):
                needed = fewer
        return Verdict(True, tuple(d.name for d in needed))
    _, adjudicated = _as_dcmtk_would(departures, spec, items, site, from_other)
    return Verdict(
        False,
        report=_describe(spec, from_site, from_other, False, "as asked", name)
        + "\n"
        + _describe(spec, adjudicated, from_other, True, "with every departure applied", name),
    )


def _describe(
    spec: dict,
    from_site: list[Dataset],
    from_wlm: list[Dataset],
    expand: bool,
    what: str,
    name: str,
) -> str:
    query = query_dataset(spec)

    def by_uid(answers: list[Dataset]) -> dict[str, tuple]:
        return {str(a.get("StudyInstanceUID", "?")): canonical(a, query, expand) for a in answers}

    site, wlm = by_uid(from_site), by_uid(from_wlm)
    lines = [f"query {spec} ({what})"]
    for who, answers in (("the site", from_site), (name, from_wlm)):
        counts = Counter(str(a.get("StudyInstanceUID", "?")) for a in answers)
        lines += [f"  {who} returned {uid} {n} times" for uid, n in counts.items() if n > 1]
    lines += [f"  only the site returned {uid}" for uid in sorted(site.keys() - wlm.keys())]
    lines += [f"  only {name} returned {uid}" for uid in sorted(wlm.keys() - site.keys())]
    for uid in sorted(site.keys() & wlm.keys()):
        if site[uid] != wlm[uid]:
            lines.append(f"  {uid} values differ:\n    site {site[uid]}\n    {name} {wlm[uid]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- fixtures


def _require(server: str) -> None:
    """Skip without the DCMTK binary, as tests/test_process_targets.py does, unless
    INTEROPGATE_REQUIRE_TARGETS=1 (then the run fails)."""
    spec = process.server_for(server)
    if process.find_binary(spec.binary) is None:
        reason = f"{spec.binary} not installed (apt-get install {spec.package})"
        if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
            pytest.fail(f"{reason}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
        pytest.skip(reason)


@dataclass
class Servers:
    """The site and one DCMTK server, started once per module and reseeded per example."""

    site: ReferenceSite
    site_endpoint: Endpoint
    other: Any  # the RunningTarget
    name: str
    model: str
    departures: Sequence[Departure]
    seed: Callable[[list[dict]], None]
    census: Counter = field(default_factory=Counter)


def _seed_worklists(site: ReferenceSite, wlm: Any) -> Callable[[list[dict]], None]:
    def seed(items: list[dict]) -> None:
        """The same items into both: the site's memory, wlmscpfs's folder of .wl files
        (it reads them again for every query)."""
        datasets = [dataset_from_spec(item) for item in items]
        site.remove_worklist_items(list(site.worklist))
        site.add_worklist_items(copy.deepcopy(datasets))
        for path in wlm.details["worklist_folder"].glob("*.wl"):
            path.unlink()
        wlm.seeder.add_worklist_items(datasets)

    return seed


def _seed_studies(site: ReferenceSite, archive: Any) -> Callable[[list[dict]], None]:
    storage = Path(archive.details["config"]).parent / "db"

    def seed(studies: list[dict]) -> None:
        """One instance per study into both: the site's memory, and dcmqrscp by C-STORE
        after emptying its storage area (it opens index.dat anew per association)."""
        instances = [study_instance(study) for study in studies]
        site.instances.clear()
        site.add_instances(copy.deepcopy(instances))
        for attempt in (1, 2):
            for path in storage.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            try:
                archive.seeder.store_instances(instances)
                return
            except TargetUnavailable:
                # A C-STORE left unanswered on a loaded machine (seen once in some
                # thousand examples): the seeding is tried again, never the matching.
                if attempt == 2:
                    raise

    return seed


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[ReferenceSite, Endpoint]]:
    with ReferenceSite(SiteConfig()) as running, group_lengths_on_the_wire():
        yield running, Endpoint(*running.dicom_address, running.config.ae_title)


@pytest.fixture(scope="module")
def wlmscpfs(site, tmp_path_factory) -> Iterator[Servers]:
    _require("dcmtk-wlmscpfs")
    target = ProcessTarget(kind="process", server="dcmtk-wlmscpfs", called_ae="IG_DIFF")
    work = tmp_path_factory.mktemp("differential") / "work"
    with process.start(target, CALLING_AE, work) as wlm:
        running, endpoint = site
        seed = _seed_worklists(running, wlm)
        yield Servers(running, endpoint, wlm, "wlmscpfs", MWL, DEPARTURES, seed)


@pytest.fixture(scope="module")
def dcmqrscp(site, tmp_path_factory) -> Iterator[Servers]:
    _require("dcmtk-dcmqrscp")
    target = ProcessTarget(kind="process", server="dcmtk-dcmqrscp", called_ae="IG_DIFF_QR")
    work = tmp_path_factory.mktemp("differential-qr") / "work"
    with process.start(target, CALLING_AE, work) as archive:
        running, endpoint = site
        seed = _seed_studies(running, archive)
        yield Servers(running, endpoint, archive, "dcmqrscp", STUDY_FIND, STUDY_DEPARTURES, seed)


# --------------------------------------------------------------------------- the tests


def _asked_again(
    servers: Servers, spec: dict, items: list[dict], site: Peer, other: Peer, first: Verdict
) -> Verdict:
    """A disagreement counts when it holds on asking again: both servers get the query
    once more. One that does not come back (seen once in several thousand queries, on a
    loaded machine, never reproduced) is counted and reported as a warning, with both
    answers, rather than failing the run."""
    again = judge(spec, items, site, other, servers.departures, servers.name)
    if not again.agreed:
        return first
    servers.census["transient"] += 1
    warnings.warn(
        f"a disagreement with {servers.name} did not come back on asking again "
        f"(hypothesis seed {SEED}):\nitems {items}\n{first.report}",
        stacklevel=2,
    )
    return again


def _run(servers: Servers, cases: st.SearchStrategy, examples: int) -> None:
    failures: list[str] = []
    census_file = os.environ.get("INTEROPGATE_DIFF_CENSUS")

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases)
    def differential(case: tuple[list[dict], list[dict]]) -> None:
        items, queries = case
        servers.seed(items)
        with (
            Peer(servers.site_endpoint, servers.model) as site,
            Peer(servers.other.endpoint, servers.model) as other,
        ):
            for spec in queries:
                verdict = judge(spec, items, site, other, servers.departures, servers.name)
                servers.census["queries"] += 1
                if not verdict.agreed:
                    verdict = _asked_again(servers, spec, items, site, other, verdict)
                if not verdict.agreed:
                    servers.census["unadjudicated"] += 1
                    failures.append(f"items {items}\n{verdict.report}")
                    if census_file:
                        with open(census_file, "a") as out:
                            out.write(json.dumps([items, spec, verdict.report]) + "\n")
                    else:
                        pytest.fail(
                            f"site and {servers.name} disagree (hypothesis seed {SEED}), no "
                            f"adjudicated departure explains it\nitems {items}\n{verdict.report}",
                            pytrace=False,
                        )
                elif verdict.departures:
                    servers.census["adjudicated"] += 1
                    for name in verdict.departures:
                        servers.census[f"departure {name}"] += 1
                else:
                    servers.census["identical"] += 1

    print(
        f"differential run against {servers.name}: hypothesis seed {SEED} "
        f"(INTEROPGATE_DIFF_SEED), {examples} examples"
    )
    differential()
    print("census:", dict(sorted(servers.census.items())))
    if failures:
        print("\n\n".join(failures[:20]))


@pytest.mark.timeout(600)
def test_site_agrees_with_wlmscpfs(wlmscpfs):
    _run(wlmscpfs, worklist_cases(), DEFAULT_EXAMPLES)


@pytest.mark.differential_full
@pytest.mark.timeout(900)
def test_site_agrees_with_wlmscpfs_full(wlmscpfs):
    _run(wlmscpfs, worklist_cases(), FULL_EXAMPLES)


@pytest.mark.timeout(600)
def test_site_agrees_with_dcmqrscp_study_root(dcmqrscp):
    _run(dcmqrscp, study_cases(), STUDY_EXAMPLES)


@pytest.mark.differential_long
@pytest.mark.timeout(3600)
def test_site_agrees_with_wlmscpfs_long(wlmscpfs):
    _run(wlmscpfs, worklist_cases(), LONG_EXAMPLES)


@pytest.mark.differential_long
@pytest.mark.timeout(3600)
def test_site_agrees_with_dcmqrscp_study_root_long(dcmqrscp):
    _run(dcmqrscp, study_cases(), LONG_EXAMPLES // 3)
