"""The HL7 worklist feed against a site we did not write: MessageFoundry (HL7 engine)
writing the worklist DCMTK wlmscpfs serves, reached as a live target (``kind: live``
with ``dicom_port`` and ``hl7_port`` and the site's own SIU mapping, accession in
SCH-2.1). Every worklist matching and completeness check runs on items that came in as
SIU^S12; a name the engine refuses in 8859/1 leaves out the one case that needs it,
with the reason; afterwards the engine has deleted every ``.wl`` file the run fed.
"""

from __future__ import annotations

import time

import pytest
import yaml

from interopgate.profile import ProcessTarget
from interopgate.targets import process
from tests.conftest import PROFILES
from tests.junit import read_cases
from tests.test_live_feed import SELECT, WORKLIST_SUITE, worklist_cases
from tests.test_messagefoundry_target import SERVER, _require_site  # noqa: F401
from tests.test_process_targets import DEVICE

# wlmscpfs's own departure (profiles/targets/messagefoundry-wlmscpfs.yaml), declared as
# the site's profile would.
DEVIATIONS = [
    {
        "check": "dicom.find.wildcard[worklist]",
        "reason": "wlmscpfs returns no item for a Patient ID key with * or ? wildcards",
    }
]


def _left_in(folder, seconds: float = 10.0) -> list[str]:
    """The folder's file names once only the lockfile is left, or after ``seconds``.

    The engine ACKs with a commit accept (HL7 2.5 §2.9.3, enhanced mode: MSA-1 CA once
    the message is stored) and runs the channel after that, so the last cancel's ``.wl``
    file may still be there when its ACK has come."""
    deadline = time.monotonic() + seconds
    while True:
        names = sorted(p.name for p in folder.iterdir())
        if names == ["lockfile"] or time.monotonic() >= deadline:
            return names
        time.sleep(0.05)


def test_engine_fed_worklist_runs_every_worklist_check(run_suites, tmp_path):
    target = ProcessTarget(kind="process", server=SERVER, called_ae="RISMWL")
    with process.start(target, DEVICE, tmp_path / "site" / "work") as running:
        assert running.hl7_address is not None
        folder = running.details["worklist_folder"]
        profile = tmp_path / "our-ris.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "extends": str(PROFILES / "agfa-cr.yaml"),
                    "target": {
                        "kind": "live",
                        "host": "127.0.0.1",
                        "dicom_port": running.endpoint.port,
                        "hl7_port": running.hl7_address[1],
                        "called_ae": "RISMWL",
                        "provides": ["Verification", "ModalityWorklistFind"],
                    },
                    "hl7": {"to_worklist": {"SIU": {"AccessionNumber": "SCH-2.1"}}},
                    "dicom": {"find": {"information_models": ["worklist"]}},
                    "known_deviations": DEVIATIONS,
                }
            )
        )
        # dicom.find.cancel is left out: its verdict depends on the target's timing.
        result, junit = run_suites(
            f"--profile={profile}", "-k", f"({SELECT}) and not cancel", suites=WORKLIST_SUITE
        )
        output = result.stdout.str()
        assert result.ret == 0, output
        cases = worklist_cases(junit)
        assert len(cases) >= 14, [c.name for c in cases]
        outcomes = {c.name: c.outcome for c in cases}
        assert set(outcomes.values()) <= {"passed", "xfailed"}, outcomes
        assert "worklist: 6 run (6 passed); 0 skipped" in output
        # The engine refuses MSH-18 8859/1 (CR): only the ISO_IR 100 name case is left out.
        assert "matching case left out: test_single_value[worklist]: PN in ISO_IR 100" in output
        assert "13 of 14 item(s) fed as SIU^S12" in output, output
        assert "worklist feed after the run: 13 of 13 fed item(s) cancelled" in output
        assert _left_in(folder) == ["lockfile"]  # nothing left
    assert {c.properties["target"] for c in read_cases(junit)} == {"live"}


@pytest.mark.parametrize("message_type", ["ORM^O01"])
def test_order_fed_worklist(run_suites, tmp_path, message_type):
    """The same feed as ORM^O01 NW (OBR-18.. placement), cancelled with ORC-1 CA."""
    target = ProcessTarget(kind="process", server=SERVER, called_ae="RISMWL")
    with process.start(target, DEVICE, tmp_path / "site" / "work") as running:
        assert running.hl7_address is not None
        folder = running.details["worklist_folder"]
        profile = tmp_path / "our-ris.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "extends": str(PROFILES / "agfa-cr.yaml"),
                    "target": {
                        "kind": "live",
                        "host": "127.0.0.1",
                        "dicom_port": running.endpoint.port,
                        "hl7_port": running.hl7_address[1],
                        "called_ae": "RISMWL",
                    },
                    "hl7": {"messages": [message_type]},
                    "dicom": {"find": {"information_models": ["worklist"]}},
                    "known_deviations": DEVIATIONS,
                }
            )
        )
        result, _ = run_suites(f"--profile={profile}", "-k", "test_worklist", suites=WORKLIST_SUITE)
        output = result.stdout.str()
        assert result.ret == 0, output
        assert "worklist: 6 run (6 passed); 0 skipped" in output
        assert f"cancelled ({message_type} ORC-1 CA)" in output, output
        assert _left_in(folder) == ["lockfile"]


def test_process_target_fed_over_hl7_with_source_hl7(run_suites, tmp_path):
    """``dicom.worklist.source: hl7`` on the process target: its items come through the
    engine instead of ``.wl`` files written by the harness."""
    profile = tmp_path / "hl7-fed.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "extends": str(PROFILES / "agfa-cr.yaml"),
                "dicom": {
                    "worklist": {
                        "query": {"Modality": "CR", "ScheduledProcedureStepStartDate": "today"},
                        "source": "hl7",
                    }
                },
            }
        )
    )
    result, _ = run_suites(
        f"--profile={profile}", f"--target={SERVER}", "-k", "test_worklist", suites=WORKLIST_SUITE
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert "worklist: generated items fed as SIU^S12 to 127.0.0.1:" in output
    assert "worklist: 6 run (6 passed); 0 skipped" in output
    assert "item(s) fed as SIU^S12" in output
