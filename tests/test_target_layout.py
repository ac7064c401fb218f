"""The targets package without starting a server: its import direction, its name
registries against the profile schema, the one readiness loop and the ``*.wl`` writer.

Fast on purpose: a new server module that imports upwards, or a name added to a
registry but not to the profile (or the reverse), fails here in well under a minute
instead of deep in a run against a real server.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import sop_class as sop

from interopgate.errors import TargetError, TargetUnavailable
from interopgate.profile import ContainerTarget, ProcessTarget
from interopgate.targets import container, launch, orthanc, process
from interopgate.targets.worklist_files import (
    WorklistFileSeeder,
    lock_folder,
    wlmscpfs_folder,
    write_worklist_file,
)
from tests.worklist_items import worklist_item

PACKAGE = Path(process.__file__).parent
# Lower layers first; a module may import only from layers before its own.
LAYERS = [
    {"running"},
    {"launch", "worklist_files", "preflight"},
    {"dcmtk", "orthanc", "dcmtk_tls"},
    {"orthanc_tls"},  # Orthanc's configuration plus TLS, with dcmtk_tls's endpoint helper
    {"messagefoundry"},  # wlmscpfs plus an HL7 engine: builds on dcmtk
    {"embedded", "live", "process", "container"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _imported_siblings(path: Path) -> set[str]:
    """The modules of this package that ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "interopgate.targets":
                found |= {alias.name for alias in node.names if alias.name in RANK}
            elif node.module.startswith("interopgate.targets."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("interopgate.targets."):
                    found.add(alias.name.split(".")[2])
    return found


def test_every_module_of_the_package_is_placed_in_a_layer():
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(RANK)


@pytest.mark.parametrize("name", sorted(RANK))
def test_imports_point_down_only(name):
    upward = {
        other for other in _imported_siblings(PACKAGE / f"{name}.py") if RANK[other] >= RANK[name]
    }
    assert not upward, f"targets/{name}.py imports {sorted(upward)}, not below it in {LAYERS}"


def test_the_package_itself_imports_a_kind_only_when_it_starts_one():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    top_level = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "interopgate.targets"
        for alias in node.names
    }
    assert not top_level & set(RANK)


@pytest.mark.parametrize("name", sorted(RANK))
def test_each_module_imports_alone(name):
    """In a fresh interpreter, nothing imported before it: no hidden order dependency."""
    subprocess.run(
        [sys.executable, "-c", f"import interopgate.targets.{name}"], check=True, timeout=60
    )


# --------------------------------------------------------------------------- one registry per kind


def test_process_servers_are_the_names_the_profile_accepts():
    declared = set(typing.get_args(ProcessTarget.model_fields["server"].annotation))
    assert declared == set(process.SERVERS)
    assert all(server.name == name for name, server in process.SERVERS.items())


def test_container_services_are_the_names_the_profile_accepts():
    declared = set(typing.get_args(ContainerTarget.model_fields["service"].annotation))
    assert declared == set(container.SERVICES)


def test_missing_orthanc_worklist_plugin_skips_with_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(process, "find_binary", lambda binary: "/usr/sbin/Orthanc")
    monkeypatch.setattr(orthanc, "WORKLIST_PLUGIN", tmp_path / "libModalityWorklists.so")
    target = ProcessTarget(kind="process", server="orthanc")
    with (
        pytest.raises(
            TargetUnavailable,
            match=r"^process target 'orthanc' skipped: its worklist plugin .* is missing; "
            r"install the Debian package: apt-get install orthanc$",
        ),
        process.start(target, "AGFA_CR1", tmp_path / "work"),
    ):
        pass


# --------------------------------------------------------------------------- readiness


def test_wait_ready_returns_what_the_probe_found():
    answers = iter([None, None, "up"])
    assert launch.wait_ready(lambda: next(answers), 5, lambda: "never", interval=0) == "up"


def test_wait_ready_times_out_with_the_callers_sentence():
    with pytest.raises(TargetError, match=r"^nothing within 0\.1 s$"):
        launch.wait_ready(lambda: False, 0.1, lambda: "nothing within 0.1 s", interval=0.01)


def test_wait_ready_stops_at_once_when_the_process_exits(tmp_path):
    code = "print('port in use'); raise SystemExit(3)"
    server = launch.ServerProcess([sys.executable, "-c", code], tmp_path / "s.log", tmp_path)
    server.start().popen.wait(10)
    with pytest.raises(launch.ServerExited, match=r"exited at start-up \(exit code 3\)") as info:
        launch.wait_ready(lambda: False, 30, lambda: "timed out", process=server)
    assert "port in use" in str(info.value) and info.value.process is server
    server.stop()
    assert "--- interopgate: stopped (exit code 3)" in (tmp_path / "s.log").read_text()


def test_log_path_follows_the_xdist_worker(tmp_path):
    assert launch.log_path_for(tmp_path / "work", "orthanc") == tmp_path / "targets/orthanc.log"
    assert launch.log_path_for(tmp_path / "work-gw1", "x") == tmp_path / "targets/x-gw1.log"


# --------------------------------------------------------------------------- .wl files


def test_worklist_file_is_a_part_10_file_of_the_item(tmp_path):
    item = worklist_item("IG00001", "DOE^JANE", "A0001")
    path = write_worklist_file(item, tmp_path / "item.wl")
    assert [p.name for p in tmp_path.iterdir()] == ["item.wl"]  # no temporary left
    read = dcmread(path)
    assert read.file_meta.MediaStorageSOPClassUID == sop.ModalityWorklistInformationFind
    assert read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert read.AccessionNumber == "A0001" and read.PatientName == "DOE^JANE"


def test_seeder_numbers_its_files_and_has_no_storage_without_a_store(tmp_path):
    folder = wlmscpfs_folder(tmp_path, " RISMWL ")
    assert folder == tmp_path / "RISMWL" and (folder / "lockfile").exists()
    seeder = WorklistFileSeeder(folder, "dcmtk-wlmscpfs")
    items = [worklist_item(f"IG{n}", "DOE^JANE", f"A{n}") for n in range(3)]
    assert seeder.add_worklist_items(items[:2]).worklist_items == 2
    assert seeder.add_worklist_items(items[2:]).worklist_items == 1
    assert sorted(p.name for p in folder.glob("*.wl")) == [
        "item00001.wl",
        "item00002.wl",
        "item00003.wl",
    ]
    with pytest.raises(TargetUnavailable, match="dcmtk-wlmscpfs is a worklist server only"):
        seeder.store_instances([Dataset()])


def test_lock_folder_for_a_database_folder(tmp_path):
    folder = lock_folder(tmp_path / "worklists")
    assert sorted(p.name for p in folder.iterdir()) == ["lockfile"]
