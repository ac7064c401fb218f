"""A RIS site nobody here wrote: MessageFoundry (HL7 engine) in front of DCMTK wlmscpfs.

MessageFoundry (PyPI ``messagefoundry``, an open-source integration engine) listens for
MLLP, parses, acknowledges and stores each message, then runs the site's channel
(``sites/messagefoundry/config/IB_RIS_ORDERS.py``), which turns orders and appointments
into ``*.wl`` files; wlmscpfs serves those to the modality's C-FIND. The HL7 and workflow
suites therefore judge a real engine's ACKs and a real worklist server's matching; the
channel is site configuration, as a hospital writes it (see sites/messagefoundry/README.md).

The engine lives in a venv of its own (it is a peer, not a library of the harness):
``$INTEROPGATE_MESSAGEFOUNDRY``, else ``.venv-messagefoundry/bin/messagefoundry`` at the
repository root, else ``messagefoundry`` on PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from interopgate.profile import ProcessTarget
from interopgate.targets.dcmtk import wlmscpfs_argv
from interopgate.targets.launch import HOST, Companion, Launch, Ports, Server, accepts_tcp
from interopgate.targets.worklist_files import WorklistFileSeeder, wlmscpfs_folder

SITE = Path(__file__).parent / "sites" / "messagefoundry"
REQUIREMENTS = SITE / "requirements.txt"
ROOT = Path(__file__).resolve().parents[3]  # the checkout (src/interopgate/targets/..)
VENV = ROOT / ".venv-messagefoundry"


def find_engine() -> str | None:
    """The ``messagefoundry`` executable, or None."""
    explicit = os.environ.get("INTEROPGATE_MESSAGEFOUNDRY")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    venv = VENV / "bin" / "messagefoundry"
    if venv.is_file():
        return str(venv)
    return shutil.which("messagefoundry")


def install_hint() -> str:
    requirements = REQUIREMENTS
    if requirements.is_relative_to(ROOT):
        requirements = requirements.relative_to(ROOT)
    return f"python3 -m venv {VENV.name} && {VENV.name}/bin/pip install -r {requirements}"


def service_settings(ports: Ports) -> str:
    """messagefoundry.toml: the engine's own settings. Its REST API stays on loopback (it
    refuses anything else without TLS); the message store is SQLite in the data folder."""
    return (
        "[api]\n"
        f'host = "{HOST}"\n'
        f"port = {ports.http}\n"
        "[ai]\n"
        'environment = "dev"\n'
        "[inbound]\n"
        f'bind_host = "{HOST}"\n'
    )


class MessageFoundrySite(Server):
    name = "messagefoundry-wlmscpfs"
    package = "dcmtk"
    binary = "wlmscpfs"
    needs_http_port = True  # the engine's REST API (not used by the suites)
    needs_hl7_port = True

    def missing_requirement(self) -> str | None:
        if find_engine() is None:
            return f"the MessageFoundry engine is not installed; install it with: {install_hint()}"
        return None

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        worklists = wlmscpfs_folder(data_dir / "worklists", target.called_ae)
        engine_dir = data_dir / "messagefoundry"
        shutil.copytree(SITE / "config", engine_dir / "config")
        (engine_dir / "environments").mkdir()
        (engine_dir / "environments" / "dev.toml").write_text("")
        (engine_dir / "messagefoundry.toml").write_text(service_settings(ports))
        engine = find_engine()
        assert engine is not None
        assert ports.hl7 is not None
        hl7_port = ports.hl7
        companion = Companion(
            name="messagefoundry",
            argv=[
                engine,
                "serve",
                "--config",
                str(engine_dir / "config"),
                "--service-config",
                str(engine_dir / "messagefoundry.toml"),
                "--project-root",
                str(engine_dir),
                "--env",
                "dev",
                "--db",
                str(engine_dir / "messagefoundry.db"),
            ],
            # The MLLP listener is up. A bare connect is harmless here: MessageFoundry
            # closes an idle client after its receive timeout and logs nothing at INFO.
            ready=lambda: accepts_tcp(hl7_port),
            env={
                "MEFOR_VALUE_MLLP_PORT": str(hl7_port),
                "MEFOR_VALUE_WORKLIST_DIR": str(worklists),
                "MEFOR_VALUE_ARCHIVE_DIR": str(engine_dir / "archive"),
            },
        )
        return Launch(
            wlmscpfs_argv(binary, worklists.parent, ports.dicom),
            WorklistFileSeeder(worklists, self.name),
            {"worklist_folder": worklists, "engine_dir": engine_dir},
            companions=[companion],
        )
