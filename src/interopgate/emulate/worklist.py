"""The worklist the emulated site serves: the device's day, generated like the PACS-side
suites' (fixtures/worklist.py, Faker), and the hard cases real sites serve.

Hard cases (``hard``): an item whose Scheduled Procedure Step Sequence is empty (sent
whatever the query, as the seed's PACS did), non-ASCII names in UTF-8 (PS3.5 6.1.2.3,
ISO_IR 192), a Person Name using all five ``^`` components with empty ones (PS3.5
6.2.1.1), a zero-length SPS Start Time, and enough further steps that the answer is a
stream of 200 pending responses a device may cancel (PS3.4 C.4.1.3.1 C-CANCEL).
"""

from __future__ import annotations

import datetime as dt
import functools
import pickle
import sys
from pathlib import Path

from pydicom.dataset import Dataset

from interopgate.errors import InteropGateError

HARD_TOTAL = 200  # pending responses of a hard worklist (with the empty-SPS item)


def generated(
    seed: int, modality: str, station_ae: str, *, hard: bool, today: dt.date | None = None
) -> tuple[list[Dataset], list[Dataset]]:
    """The items to match (today's list for the device) and those sent whatever the
    query (the empty-SPS item), both deterministic for a seed. Made once per process and
    arguments (Faker and 200 datasets: ~0.3 s, and a recording session starts a site for
    each run), then given to each caller as a copy of its own to change."""
    today = today or dt.date.today()
    return pickle.loads(_generated(seed, modality, station_ae, hard, today))


@functools.lru_cache(maxsize=8)
def _generated(seed: int, modality: str, station_ae: str, hard: bool, today: dt.date) -> bytes:
    return pickle.dumps(_generate(seed, modality, station_ae, hard=hard, today=today))


def _generate(
    seed: int, modality: str, station_ae: str, *, hard: bool, today: dt.date
) -> tuple[list[Dataset], list[Dataset]]:
    _checkout_fixtures()
    from fixtures.patients import make_faker
    from fixtures.worklist import make_worklist_item, todays_worklist

    fake = make_faker(seed)
    items = todays_worklist(fake, seed=seed, modality=modality, station_ae=station_ae, today=today)
    forced: list[Dataset] = []
    if not hard:
        return items, forced

    def step(index: int, hour: int, minute: int, **kwargs: object) -> Dataset:
        return make_worklist_item(
            fake.patient(),
            seed=seed,
            accession=f"H{fake.numerify('#######')}{index:03d}",
            modality=modality,
            station_ae=station_ae,
            start=dt.datetime.combine(today, dt.time(hour, minute)),
            step_id=f"HSPS{index:03d}",
            **kwargs,  # type: ignore[arg-type]
        )

    non_ascii = step(1, 12, 0, charset="ISO_IR 192")
    non_ascii.PatientName = "Müller-Øster^Zoë^Ås"
    carets = step(2, 12, 15)
    carets.PatientName = "DOE^^ANNE^DR^"  # family, (no given), middle, prefix, (no suffix)
    no_time = step(3, 12, 30)
    no_time.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime = ""
    empty_sps = step(4, 12, 45)
    empty_sps.ScheduledProcedureStepSequence = []
    forced.append(empty_sps)
    items += [non_ascii, carets, no_time]
    index = 5
    while len(items) + len(forced) < HARD_TOTAL:
        minute = index % 60
        items.append(step(index, 15 + (index // 60) % 5, minute))
        index += 1
    return items, forced


def _checkout_fixtures() -> None:
    """The data model lives in the checkout's fixtures/ (as for the suites): importable
    also when ``interopgate`` runs as an installed command from elsewhere."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "fixtures" / "worklist.py").is_file():
        raise InteropGateError(
            f"the emulated worklist is generated from fixtures/ of a source checkout ({root})"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
