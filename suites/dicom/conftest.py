"""Query test data, seeded once per session through the target's seeder (seeding.py).

The data (fixtures/query_data.py) comes from its own Faker seeded with ``--seed``, so it
does not depend on which tests ran first; its UIDs derive from the seed, so seeding
twice (xdist workers on one live target, a re-run) stores the same entities. What the
target cannot be seeded with is recorded, and the checks that need it are skipped with
the reason: never failed, never faked.

Worklist items reach a RIS the way its orders do, over HL7 (IHE RAD-4), when the
profile says ``dicom.worklist.source: hl7`` or the target is a live one with an HL7
port (:func:`interopgate.seeding.feed_for`); after the session the fed items are
cancelled again unless ``--keep-worklist``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydicom.dataset import Dataset

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from fixtures.query_data import QueryData, make_query_data
from interopgate import seeding
from interopgate.dicom import uids
from interopgate.errors import TargetUnavailable
from interopgate.plugin.state import run_state
from interopgate.suite_support import parametrize_from_profile


def _proposed_and_provided(name: str):
    """``[name]`` when the device proposes the SOP class and the target provides it."""

    def values(profile) -> list[str]:
        proposed = uids.resolve(name) in profile.dicom.proposed_uids()
        return [name] if proposed and profile.target_provides(name) else []

    return values


# The services the modality uses after the worklist (IHE RAD-6/7, RAD-10): applicable
# only where the device proposes them and the target's conformance statement provides
# them (target.provides); wlmscpfs, dcmqrscp and Orthanc provide neither.
def _provided(*names: str):
    """The named classes the target provides: the harness retrieves as its own SCU,
    whether or not the device proposes C-MOVE or C-GET (target.provides)."""

    def values(profile) -> list[str]:
        return [name for name in names if profile.target_provides(name)]

    return values


PARAMETERS = {
    "mpps_sop_class": _proposed_and_provided("MPPS"),
    "commitment_sop_class": _proposed_and_provided("StorageCommitmentPushModel"),
    "retrieve_move_class": _provided("StudyRootMove", "PatientRootMove"),
    "retrieve_get_class": _provided("StudyRootGet", "PatientRootGet"),
}
WHAT = {
    "retrieve_move_class": "C-MOVE information model the target provides (target.provides)",
    "retrieve_get_class": "C-GET information model the target provides (target.provides)",
    "mpps_sop_class": "MPPS SOP class proposed and provided (dicom.propose, target.provides)",
    "commitment_sop_class": "Storage Commitment Push Model proposed and provided "
    "(dicom.propose, target.provides)",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)


@dataclass
class SeededData:
    seeded_data: QueryData
    instances: str | None = None  # None when seeded, else why not
    worklist: str | None = None
    declared_worklist: list[Dataset] = field(default_factory=list)
    broken: str | None = None  # the target misbehaved while being seeded: checks fail

    @property
    def data(self) -> QueryData:
        """The data; every check that uses it fails with one line when seeding broke."""
        if self.broken:
            pytest.fail(self.broken, pytrace=False)
        return self.seeded_data

    def require(self, model: str) -> QueryData:
        """The data, or skip: the target could not be seeded for ``model``."""
        if self.broken:
            pytest.fail(self.broken, pytrace=False)
        reason = self.worklist if model == "worklist" else self.instances
        if reason:
            pytest.skip(reason)
        return self.data


def _declared(items: list[dict]) -> list[Dataset]:
    from interopgate.dicom.query import MODELS, build_identifier

    return [build_identifier(MODELS["worklist"], item) for item in items]


@pytest.fixture(scope="session")
def query_data(pytestconfig: pytest.Config, profile, target):
    seed = pytestconfig.option.ig_seed
    data = make_query_data(
        make_faker(seed),
        seed,
        modality=profile.device.modality,
        station_ae=profile.device.ae_title,
    )
    seeded = SeededData(data)
    worklist = profile.dicom.worklist
    try:
        target.seeder.store_instances(data.studies())
    except TargetUnavailable as exc:
        seeded.instances = str(exc)
    except Exception as exc:  # a target misbehaving mid-exchange: one line per check
        seeded.broken = seeding_failure(target, exc)
    feed = seeding.feed_for(profile, target)
    lease = _lease(pytestconfig)
    if worklist is not None and worklist.source == "preloaded":
        pass  # the target holds the generated items already (same --seed)
    elif worklist is not None and worklist.source == "declared":
        seeded.worklist = (
            "the profile declares the target's worklist (dicom.worklist.source: declared): "
            "matching checks need generated items"
        )
        seeded.declared_worklist = _declared(worklist.items)
    elif worklist is not None and worklist.source == "hl7" and feed is None:
        seeded.worklist = (
            "dicom.worklist.source is hl7, but the target has no HL7 (MLLP) address: set "
            "hl7_port in the profile's target"
        )
    elif feed is not None:
        with lease.take() as holders:
            # holders > 1: another xdist worker fed the same items and still uses them;
            # sending them again would replace items under its queries.
            _feed(pytestconfig, profile, target, feed, seeded, send=holders == 1)
    else:
        try:
            target.seeder.add_worklist_items(data.worklist())
        except TargetUnavailable as exc:
            seeded.worklist = str(exc)
        except Exception as exc:  # a target misbehaving mid-exchange: one line per check
            seeded.broken = seeded.broken or seeding_failure(target, exc)
    yield seeded
    if feed is not None and feed.fed and not pytestconfig.option.ig_keep_worklist:
        with lease.give_back() as holders:
            if holders == 0:  # no other xdist worker still uses the fed items
                feed.withdraw()
            else:
                feed.withdrawn = "left to the last xdist worker still using them"


def seeding_failure(target, exc: Exception) -> str:
    """One sentence for the checks whose query data could not be seeded because the
    target misbehaved mid-exchange (aborted, stopped answering, broke the connection)."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "must be established" in text:
        text = (
            "the association ended in the middle of seeding (aborted by the target, or "
            "no C-STORE response within the DIMSE timeout, target.dimse_timeout)"
        )
    return f"the query data could not be seeded on the target {target.endpoint}: {text}"


def _lease(config: pytest.Config) -> seeding.FeedLease:
    """Under xdist, one count per test run (its testrunuid) in the report directory."""
    run = getattr(config, "workerinput", {}).get("testrunuid")
    path = run_state(config).report_dir / f"worklist-feed-{run}.count" if run else None
    return seeding.FeedLease(path)


def _feed(config: pytest.Config, profile, target, feed: seeding.WorklistFeed, seeded, send) -> None:
    """Send the generated items as orders (seeding.WorklistFeed); record what did not
    arrive and which matching keys the site's mapping carries."""
    factory = HL7MessageFactory(
        make_faker(config.option.ig_seed + 1),
        profile.hl7.version,
        station_ae=profile.device.ae_title,
        modality=profile.device.modality,
        charset=profile.hl7.encoding,
        pinned=profile.hl7.pin,
    )
    worker = getattr(config, "workerinput", {}).get("workerid")
    name = f"worklist-feed-{worker}.txt" if worker else "worklist-feed.txt"
    evidence = run_state(config).report_dir / "evidence" / name
    feed.configure(profile, factory, target.endpoint, evidence)
    try:
        receipt = feed(seeded.data.worklist(), send=send)
    except TargetUnavailable as exc:
        seeded.worklist = str(exc)
        return
    seeded.data.unseeded["worklist"] = dict(receipt.missing)
    seeded.data.carried = feed.carried_keys()
    seeded.data.carried_by = f"the site's {feed.family} mapping (hl7.to_worklist)"
