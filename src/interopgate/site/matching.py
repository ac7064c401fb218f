"""Attribute matching of the reference site, as PS3.4 C.2.2.2 defines it.

Written by hand because pynetdicom leaves matching to the application. The reference
site must be *correct*: single value (C.2.2.2.1), universal (C.2.2.2.3), wildcard
(C.2.2.2.4), range (C.2.2.2.5), list of UIDs (C.2.2.2.2) and sequence matching
(C.2.2.2.6); leading/trailing spaces are not significant for the padded string VRs
(PS3.5 6.2). Matching is case-sensitive, including PN (case-insensitive PN is allowed,
not required). Group Length elements (gggg,0000) are encoding (PS3.5 7.2), never keys.
Site faults hook in through :class:`MatchOptions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

# VRs whose leading and trailing spaces are not significant (PS3.5 6.2).
PADDED_VRS = {"AE", "CS", "LO", "PN", "SH", "DA", "TM", "DT", "AS", "DS", "IS"}
WILDCARD_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
RANGE_VRS = {"DA", "TM", "DT"}
# Keys that are never matched on, only returned (PS3.4 C.4.1.1.3.2 / K.6.1.1.3).
NOT_MATCHED = {"SpecificCharacterSet", "QueryRetrieveLevel", "TimezoneOffsetFromUTC"}
# Sequence return keys of Type 1C (PS3.4 Table K.6-1): present with an item or absent,
# never zero-length (PS3.5 7.4), so an entity without an item leaves them out.
TYPE_1C_SEQUENCES = {"RequestedProcedureCodeSequence", "ScheduledProtocolCodeSequence"}


@dataclass(frozen=True)
class MatchOptions:
    """Switches the fault catalogue flips; the defaults are the standard's behaviour."""

    case_insensitive_pn: bool = False
    # Defects the site's faults switch on (site/find.py); each False by default.
    case_insensitive_all: bool = False  # folds case for every string VR, not only PN
    pad_sensitive: bool = False  # compares with the wire pad (odd length + space) kept
    wildcard_literal: bool = False  # "*" and "?" compared as characters
    range_end_exclusive: bool = False  # "A-B" matches A <= v < B
    single_value_prefix: bool = False  # a single value matches every value it begins
    pn_family_only: bool = False  # PN compared on the family name component only
    uid_list_first_only: bool = False  # only the first UID of a list is used
    sequence_first_key_only: bool = False  # only the first non-empty key of an item
    universal_excludes_absent: bool = False  # a zero-length key needs the attribute


def _text(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]  # type: ignore[union-attr]
    return [str(value)]


def _normalise(text: str, vr: str) -> str:
    return text.strip(" ") if vr in PADDED_VRS else text.rstrip("\0")


def _as_on_wire(text: str) -> str:
    """The value with its PS3.5 6.2 pad kept, as a pad-sensitive SCP would store it."""
    return text + " " if len(text) % 2 else text


def _time_key(value: str) -> str:
    digits = value.replace(":", "")
    whole, _, fraction = digits.partition(".")
    return whole.ljust(6, "0") + "." + fraction.ljust(6, "0")


def _in_range(value: str, key: str, vr: str, exclusive_end: bool = False) -> bool:
    low, _, high = key.partition("-")
    convert = _time_key if vr == "TM" else (lambda v: v)
    if vr == "DT":
        convert = lambda v: v.ljust(14, "0")  # noqa: E731 - compare at second precision
    stored = convert(value)
    if low and stored < convert(low):
        return False
    if high:
        upper = convert(high)
        if vr == "TM" and "." not in high:
            # "0830" ends at 08:30:59.999999 (PS3.4 C.2.2.2.5: the range is inclusive).
            upper = high.replace(":", "").ljust(6, "9") + ".999999"
        if vr == "DT":
            upper = high.ljust(14, "9")
        if stored > upper or (exclusive_end and stored >= convert(high)):
            return False
    return True


def _wildcard(value: str, key: str, fold: bool) -> bool:
    pattern = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in key)
    flags = re.IGNORECASE if fold else 0
    return re.fullmatch(pattern, value, flags | re.DOTALL) is not None


def is_encoding(element: DataElement) -> bool:
    """Group Length (gggg,0000), of any group: encoding (PS3.5 7.2), not an attribute of
    the information model, so neither a matching nor a return key."""
    return element.tag.element == 0


def is_universal(key: DataElement, options: MatchOptions = MatchOptions()) -> bool:
    """A key that selects nothing: zero-length (C.2.2.2.3); '*' alone in a wildcard VR,
    which C.2.2.2.4 makes universal and K.2.2.1.1.1 lets match a zero-length value; a
    sequence key with no item, an empty item, or only such keys in its item: item by
    item they match every item (C.2.2.2.6), so they ask for return keys only."""
    if key.VR == "SQ":
        items = list(key.value or [])
        if not items:
            return True
        item_key = _item_key(items[0], options)
        return all(is_universal(e, options) for e in item_key if not is_encoding(e))
    values = [_normalise(v, key.VR) for v in _text(key.value)]
    if all(v == "" for v in values):
        return True
    wildcard = key.VR in WILDCARD_VRS and not options.wildcard_literal
    return wildcard and len(values) == 1 and set(values[0]) == {"*"}


def _item_key(item: Dataset, options: MatchOptions) -> Dataset:
    return _first_non_empty(item) if options.sequence_first_key_only else item


def element_matches(key: DataElement, stored: DataElement | None, options: MatchOptions) -> bool:
    """True when the stored element satisfies the key element."""
    vr = key.VR
    if vr == "SQ":
        query_items = list(key.value or [])
        if not query_items or len(query_items[0]) == 0:
            return True  # universal sequence matching
        item_key = _item_key(query_items[0], options)
        if is_universal(key, options) and not options.universal_excludes_absent:
            return True  # return keys only: every entity matches (C.2.2.2.3, C.2.2.2.6)
        stored_items = list(stored.value or []) if stored is not None else []
        return any(dataset_matches(item_key, item, options) for item in stored_items)
    if is_universal(key, options):
        # universal matching (C.2.2.2.3; '*' alone, C.2.2.2.4)
        return not (options.universal_excludes_absent and stored is None)
    key_values = [_normalise(v, vr) for v in _text(key.value)]
    raw_stored = _text(stored.value if stored is not None else None)
    if options.pad_sensitive and vr in PADDED_VRS:
        stored_values = [_as_on_wire(v) for v in raw_stored if v.strip()]
        key_values = [v for v in _text(key.value)]
    else:
        stored_values = [_normalise(v, vr) for v in raw_stored]
        stored_values = [v for v in stored_values if v]
    if not stored_values:
        return False
    if vr == "UI":
        if options.uid_list_first_only:
            key_values = key_values[:1]
        return any(v in key_values for v in stored_values)  # list of UID matching
    key_value = "\\".join(key_values)
    fold = vr == "PN" and options.case_insensitive_pn
    fold = fold or (options.case_insensitive_all and vr in WILDCARD_VRS)
    for value in stored_values:
        if vr in RANGE_VRS and "-" in key_value:
            if _in_range(value, key_value, vr, options.range_end_exclusive):
                return True
        elif (
            vr in WILDCARD_VRS
            and ("*" in key_value or "?" in key_value)
            and not options.wildcard_literal
        ):
            if _wildcard(value, key_value, fold):
                return True
        elif _single_value(value, key_value, vr, fold, options):
            return True
    return False


def _single_value(value: str, key: str, vr: str, fold: bool, options: MatchOptions) -> bool:
    """Single value matching (C.2.2.2.1): the whole value, case-sensitive except where
    folding is allowed (PN) or a fault folds it."""
    if fold:
        value, key = value.casefold(), key.casefold()
    if options.pn_family_only and vr == "PN":
        value, key = value.split("^")[0], key.split("^")[0]
    if options.single_value_prefix and vr not in RANGE_VRS:
        return value.startswith(key)
    return value == key


def _first_non_empty(item: Dataset) -> Dataset:
    """The sequence item reduced to its first key with a value (a defect)."""
    reduced = Dataset()
    for element in item:
        if element.VR != "SQ" and element.value not in (None, ""):
            reduced.add(element)
            break
    return reduced


def matching_keys(query: Dataset, options: MatchOptions) -> list[DataElement]:
    """The keys of ``query`` that can leave an entity out. A universal key matches every
    entity (C.2.2.2.3, C.2.2.2.4, C.2.2.2.6) unless a fault makes it exclude absent
    values, so it is a return key only; most keys of a query are. Worked out once per
    query instead of once per stored entity (a worklist of hundreds of items)."""
    return [
        key
        for key in query
        if not (key.keyword in NOT_MATCHED or key.tag.group == 0x0002 or is_encoding(key))
        and (options.universal_excludes_absent or not is_universal(key, options))
    ]


def dataset_matches(
    query: Dataset,
    stored: Dataset,
    options: MatchOptions,
    keys: list[DataElement] | None = None,
) -> bool:
    """The stored entity matches every key of the query. ``keys``: the query's
    :func:`matching_keys`, from a caller that matches one query against many entities."""
    for key in matching_keys(query, options) if keys is None else keys:
        if not element_matches(key, stored.get(key.tag), options):
            return False
    return True


def response_for(
    query: Dataset, stored: Dataset, options: MatchOptions = MatchOptions()
) -> Dataset:
    """The identifier returned for a match: every requested key, zero-length when the
    entity has no value (PS3.4 C.2.2.1.2), nothing that was not requested. A sequence
    key returns the matching items only, each with the requested keys (C.2.2.2.6); a
    Type 1C sequence the entity has no item for is left out (Table K.6-1, PS3.5 7.4)."""
    response = Dataset()
    for key in query:
        if is_encoding(key):
            continue
        element = stored.get(key.tag)
        if key.keyword == "QueryRetrieveLevel":
            response.QueryRetrieveLevel = key.value  # echoed (PS3.4 C.4.1.1.3.2)
        elif key.VR == "SQ":
            items = list(key.value or [])
            stored_items = list(element.value or []) if element is not None else []
            if not stored_items and key.keyword in TYPE_1C_SEQUENCES:
                continue
            if not items or len(items[0]) == 0:
                response.add_new(key.tag, "SQ", stored_items)
                continue
            if not is_universal(key, options):
                item_key = _item_key(items[0], options)
                stored_items = [i for i in stored_items if dataset_matches(item_key, i, options)]
            response.add_new(
                key.tag, "SQ", [response_for(items[0], i, options) for i in stored_items]
            )
        elif element is None:
            response.add_new(key.tag, key.VR, None)
        else:
            response.add_new(key.tag, element.VR, element.value)
    if "SpecificCharacterSet" in stored and "SpecificCharacterSet" not in response:
        response.SpecificCharacterSet = stored.SpecificCharacterSet
    return response


__all__ = [
    "MatchOptions",
    "dataset_matches",
    "element_matches",
    "is_encoding",
    "is_universal",
    "matching_keys",
    "response_for",
]
