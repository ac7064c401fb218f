"""Command-line options and ini keys of a conformance run, and how they resolve."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from interopgate.site.faults import FAULTS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interopgate", "InteropGate conformance run")
    group.addoption(
        "--profile",
        dest="ig_profile",
        metavar="NAME|PATH",
        help="vendor profile: a name in profiles/ (e.g. agfa-cr) or a path to a YAML file. "
        "`interopgate profiles` lists them.",
    )
    group.addoption(
        "--target",
        dest="ig_target",
        metavar="SPEC",
        help="override the profile's target: 'embedded', a target profile in "
        "profiles/targets/ (e.g. orthanc), or dicom://CALLED_AE@host:port for a live system.",
    )
    group.addoption(
        "--target-host",
        dest="ig_target_host",
        metavar="HOST",
        help="the target's host; makes the target live (with --dicom-port) if it is not",
    )
    group.addoption(
        "--dicom-port",
        dest="ig_dicom_port",
        type=_port,
        metavar="PORT",
        help="the target's DICOM port; makes the target live if it is not",
    )
    group.addoption(
        "--hl7-port",
        dest="ig_hl7_port",
        type=_port,
        metavar="PORT",
        help="the target's HL7 (MLLP) port; makes the target live if it is not",
    )
    group.addoption(
        "--called-ae",
        dest="ig_called_ae",
        metavar="AE",
        help="the target's AE title (called AE), for any target kind",
    )
    group.addoption(
        "--site-fault",
        dest="ig_faults",
        action="append",
        default=[],
        metavar="FAULT",
        help="switch on a fault of the embedded reference site (repeatable); "
        f"one of: {', '.join(FAULTS)}",
    )
    group.addoption(
        "--check",
        dest="ig_checks",
        action="append",
        default=[],
        metavar="ID",
        help="run only the tests of these checks (repeatable; shell-style patterns, e.g. "
        "--check='dicom.find.*' --check=hl7.timestamp.sweep); `interopgate checks` lists "
        "the ids",
    )
    group.addoption(
        "--report-dir",
        dest="ig_report_dir",
        metavar="DIR",
        help="where junit.xml, report.html and evidence/ go (default: reports/, "
        "ini: interopgate_report_dir)",
    )
    group.addoption(
        "--profiles-dir",
        dest="ig_profiles_dir",
        metavar="DIR",
        help="where profile names are looked up (default: profiles/ under the rootdir, "
        "ini: interopgate_profiles_dir)",
    )
    group.addoption(
        "--repeat",
        dest="ig_repeat",
        type=int,
        metavar="N",
        help="send each worklist completeness query N times and report how many of the N "
        "failed, for intermittent defects (default 3, ini: interopgate_repeat)",
    )
    group.addoption(
        "--keep-worklist",
        dest="ig_keep_worklist",
        action="store_true",
        help="keep the worklist items fed over HL7 on the target after the run (by default "
        "they are cancelled: SIU^S15 / ORC-1 CA)",
    )
    group.addoption(
        "--pcap",
        dest="ig_pcap",
        choices=PCAP_MODES,
        metavar="failed|all|none",
        help="wire captures (pcapng, Wireshark/tshark decode them as DICOM and HL7): "
        "failed (default) writes evidence/<check>.pcapng for each failed check, all for "
        "every check, none no capture; except with none, evidence/run.pcapng (one per "
        "xdist worker: run-gw0.pcapng, ...) holds every exchange of the run "
        "(ini: interopgate_pcap)",
    )
    group.addoption(
        "--role",
        dest="ig_role",
        choices=ROLES,
        default="device",
        help="device (default): the harness plays the profile's device against the target "
        "(suites/dicom, hl7, workflow); scp: the device is the system under test, the "
        "harness plays its site (interopgate emulate) and runs suites/device",
    )
    group.addoption(
        "--recording",
        dest="ig_recording",
        metavar="DIR",
        help="with --role=scp: judge this recorded emulation session (interopgate emulate "
        "writes one) instead of recording a new one",
    )
    group.addoption(
        "--emulate-duration",
        dest="ig_emulate_duration",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --role=scp and no --recording: how long the emulated site records "
        "before the checks judge what the device sent (default 60)",
    )
    group.addoption(
        "--emulate-port",
        dest="ig_emulate_port",
        type=_port_or_zero,
        metavar="PORT",
        help="with --role=scp: the emulated site's port (default: the profile's emulate.port)",
    )
    parser.addini("interopgate_repeat", "default for --repeat", default="3")
    parser.addini("interopgate_pcap", "default for --pcap", default="failed")
    parser.addini("interopgate_report_dir", "default for --report-dir", default="reports")
    parser.addini("interopgate_profiles_dir", "default for --profiles-dir", default="profiles")


PCAP_MODES = ("failed", "all", "none")
ROLES = ("device", "scp")


def pcap_mode(config: pytest.Config) -> str:
    """``--pcap`` or its ini default (failed | all | none)."""
    mode = config.option.ig_pcap or config.getini("interopgate_pcap")
    if mode not in PCAP_MODES:
        raise pytest.UsageError(f"interopgate: interopgate_pcap={mode!r}: expected failed|all|none")
    return mode


def _port(text: str) -> int:
    """argparse type for the port options: an integer 1-65535, else one sentence."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port number 1-65535, got {text!r}")
    return int(text)


def _port_or_zero(text: str) -> int:
    """A port, or 0 for a free one."""
    return 0 if text == "0" else _port(text)


def target_fields(config: pytest.Config) -> dict[str, object]:
    """The --target-host/--dicom-port/--hl7-port/--called-ae overrides that were given."""
    fields = {
        "host": config.option.ig_target_host,
        "dicom_port": config.option.ig_dicom_port,
        "hl7_port": config.option.ig_hl7_port,
        "called_ae": config.option.ig_called_ae,
    }
    return {key: value for key, value in fields.items() if value is not None}


def report_dir(config: pytest.Config) -> Path:
    return Path(config.option.ig_report_dir or config.getini("interopgate_report_dir"))


def profiles_dir(config: pytest.Config) -> Path:
    """Where profile names are looked up; relative to the rootdir, not the cwd."""
    path = Path(config.option.ig_profiles_dir or config.getini("interopgate_profiles_dir"))
    return path if path.is_absolute() else config.rootpath / path


def resolve_repeat(config: pytest.Config) -> None:
    """``--repeat`` or its ini default, checked once (1 or more) and kept in the option."""
    repeat = config.option.ig_repeat
    repeat = int(config.getini("interopgate_repeat")) if repeat is None else repeat
    if repeat < 1:
        raise pytest.UsageError(f"interopgate: --repeat={repeat}: expected 1 or more")
    config.option.ig_repeat = repeat
