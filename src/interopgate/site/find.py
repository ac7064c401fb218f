"""The reference site's C-FIND responses (PS3.4 C.4.1.2 / K.4.1.2, PS3.7 9.1.2 and C).

Matching is site/matching.py's job; this module turns matches into the DIMSE response
stream: one pending (FF00H) response per match with its identifier, a final 0000H
without one, and FE00H as soon as a C-CANCEL-FIND-RQ is seen (PS3.7 9.3.2.3). The
site's C-FIND and worklist faults (site/faults.py) hook in here, so pacs.py stays small.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Iterator
from io import BytesIO

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode

from interopgate.site.faults import FaultSet
from interopgate.site.matching import MatchOptions, dataset_matches, matching_keys, response_for

SUCCESS, PENDING, CANCEL = 0x0000, 0xFF00, 0xFE00
# A database cursor streams a long result set rather than handing it over at once; the
# pause also lets a C-CANCEL arrive while matches are still being sent, as it would on
# a real PACS. Short results (most queries) are answered at once.
PACED_FROM = 50  # matches: a result set this long is streamed
PACED_RESPONSES = 5  # only the first few: a cancel sent after match 1 arrives by then
PENDING_INTERVAL = 0.004
INTERMITTENT_PERIOD = 3  # intermittent-empty-sps: every 3rd query with today's items

_MATCH_FAULTS = {
    "case-folding": "case_insensitive_all",
    "pad-sensitive-matching": "pad_sensitive",
    "wildcard-ignored": "wildcard_literal",
    "range-end-exclusive": "range_end_exclusive",
    "single-value-prefix": "single_value_prefix",
    "pn-family-name-only": "pn_family_only",
    "uid-list-first-only": "uid_list_first_only",
    "sequence-first-key-only": "sequence_first_key_only",
    "universal-excludes-absent": "universal_excludes_absent",
}


def match_options(faults: FaultSet) -> MatchOptions:
    """The matching switches the site's faults turn on (standard behaviour when none)."""
    return MatchOptions(**{option: name in faults for name, option in _MATCH_FAULTS.items()})


class FindResponder:
    """Per-site state of the C-FIND service: the options and the intermittency counter."""

    def __init__(self, faults: FaultSet) -> None:
        self.faults = faults
        self.options = match_options(faults)
        self._today_queries = 0
        self._lock = threading.Lock()

    def respond(
        self, event, query: Dataset, candidates: list[Dataset], worklist: bool
    ) -> Iterator[tuple[int, Dataset | None]]:
        # Match first, build responses for the matches only: a query by accession on a
        # worklist of hundreds of items builds one response, not hundreds.
        keys = matching_keys(query, self.options)
        pairs = [
            (s, response_for(query, s, self.options))
            for s in candidates
            if dataset_matches(query, s, self.options, keys)
        ]
        if worklist:
            self._damage_worklist(pairs)
        if "return-key-omitted" in self.faults:
            for _, response in pairs:
                _omit_empty(response)
        paced = PACED_RESPONSES if len(pairs) >= PACED_FROM else 0
        for index, (_, response) in enumerate(pairs):
            if "cancel-ignored" not in self.faults and event.is_cancelled:
                yield CANCEL, None
                return
            if index < paced:
                time.sleep(PENDING_INTERVAL)
            yield PENDING, response
        if "final-response-with-identifier" in self.faults and pairs:
            _send_final_with_identifier(event, pairs[-1][1])

    def _damage_worklist(self, pairs: list[tuple[Dataset, Dataset]]) -> None:
        """Worklist faults: they hit items scheduled today, the device's daily list."""
        today = dt.date.today().strftime("%Y%m%d")
        todays = [
            r for s, r in pairs if _sps_date(s) == today and "ScheduledProcedureStepSequence" in r
        ]
        if not todays:
            return
        if "sps-without-start-time" in self.faults:
            for response in todays:
                # A universal sequence key returns the stored items themselves
                # (matching.response_for): damage copies, never the stored step.
                steps = [copy.deepcopy(i) for i in response.ScheduledProcedureStepSequence]
                response.ScheduledProcedureStepSequence = steps
                for item in steps:
                    if "ScheduledProcedureStepStartTime" in item:
                        del item.ScheduledProcedureStepStartTime
        if "empty-sps-sequence" in self.faults:
            todays[0].ScheduledProcedureStepSequence = []
        if "intermittent-empty-sps" in self.faults:
            with self._lock:
                self._today_queries += 1
                hit = self._today_queries % INTERMITTENT_PERIOD == 0
            if hit:
                todays[0].ScheduledProcedureStepSequence = []


def _sps_date(stored: Dataset) -> str | None:
    items = stored.get("ScheduledProcedureStepSequence") or []
    return str(items[0].get("ScheduledProcedureStepStartDate", "")) if items else None


def _omit_empty(response: Dataset) -> None:
    """return-key-omitted: drop the keys the entity had no value for."""
    for element in list(response):
        if element.VR == "SQ":
            for item in element.value:
                _omit_empty(item)
        elif element.value in (None, "") and element.keyword != "QueryRetrieveLevel":
            del response[element.tag]


def _send_final_with_identifier(event, identifier: Dataset) -> None:
    """final-response-with-identifier: the final 0000H response carries an identifier
    (PS3.7 C.4.1.1.3 allows one only with a pending status). pynetdicom sends that final response after
    the handler returns and never with a data set, so for this one message the
    association's DIMSE send is wrapped to attach it (fault injection only)."""
    _, _, transfer_syntax = event.context
    dimse = event.assoc.dimse
    original = dimse.send_msg
    encoded = encode(
        identifier,
        transfer_syntax.is_implicit_VR,
        transfer_syntax.is_little_endian,
        transfer_syntax.is_deflated,
    )

    def send_msg(primitive, context_id: int) -> None:
        if isinstance(primitive, C_FIND) and primitive.Status == SUCCESS:
            primitive.Identifier = BytesIO(encoded)
            dimse.send_msg = original
        original(primitive, context_id)

    dimse.send_msg = send_msg
