"""What every simulated system of a load run needs, and what the target acknowledged.

A :class:`Plan` travels as JSON (a worker on another machine gets it from the master in
a Locust message), so it holds the validated profile as data and the target's addresses.
A :class:`Ledger` is what the users saw: each order the target acknowledged, each
instance it stored with success, each step performed; workers send theirs to the master,
whose merged ledger the loss checks judge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from interopgate.dicom.association import Endpoint
from interopgate.profile import Profile


@dataclass
class Plan:
    profile: dict[str, Any]  # Profile.model_dump(mode="json")
    endpoint: dict[str, Any]  # Endpoint fields
    hl7_address: tuple[str, int] | None
    users: int
    spawn_rate: float
    duration: float
    run_id: str  # prefixes IDs so that a run's orders are told apart from a site's own

    @property
    def profile_model(self) -> Profile:
        return Profile.model_validate(self.profile)

    @property
    def endpoint_model(self) -> Endpoint:
        return Endpoint(**self.endpoint)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        address = data.get("hl7_address")
        return cls(**{**data, "hl7_address": tuple(address) if address else None})


@dataclass
class Ledger:
    # accession -> "MESSAGE^TYPE MSH-10 ..." of the acknowledged create
    orders: dict[str, str] = field(default_factory=dict)
    # SOP Instance UID -> (Study, Series, SOP Class) of an instance stored with success
    instances: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    performed: set[str] = field(default_factory=set)  # accessions with MPPS COMPLETED
    # accession -> most items one modality query returned for it (2+: a duplicate)
    seen: dict[str, int] = field(default_factory=dict)

    def saw(self, accession: str, count: int) -> None:
        self.seen[accession] = max(self.seen.get(accession, 0), count)

    def merge(self, other: Ledger) -> None:
        self.orders.update(other.orders)
        self.instances.update(other.instances)
        self.performed |= other.performed
        for accession, count in other.seen.items():
            self.saw(accession, count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "instances": {k: list(v) for k, v in self.instances.items()},
            "performed": sorted(self.performed),
            "seen": self.seen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        return cls(
            dict(data.get("orders", {})),
            {k: tuple(v) for k, v in data.get("instances", {}).items()},  # type: ignore[misc]
            set(data.get("performed", [])),
            dict(data.get("seen", {})),
        )
