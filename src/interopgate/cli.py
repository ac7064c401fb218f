"""The ``interopgate`` command: run the reference site by hand, list what the harness knows.

The conformance run itself is ``pytest --profile=NAME``; this command is for the
things around it: ``interopgate probe`` asks a live system what it accepts and drafts
its target profile; ``interopgate site`` starts the embedded reference site so other
tools (findscu, echoscu, Wireshark, a second harness run with a live profile) can be
pointed at it; ``profiles``, ``checks`` and ``faults`` list the catalogues; ``validate``
checks a profile file without running anything; ``demo seed-incident`` replays the seed;
``analyze`` reads a site's own packet captures (interopgate/analysis/); ``emulate``
plays the site a device under test is configured against (interopgate/emulate/).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
from pathlib import Path

from interopgate import __version__, checks
from interopgate.errors import InteropGateError
from interopgate.profile import DEFAULT_CANCEL_STATUS, check_cancel_status
from interopgate.site.faults import FAULTS


def _cmd_site(args: argparse.Namespace) -> int:
    from interopgate.site.pacs import ReferenceSite, SiteConfig

    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        from interopgate.errors import did_you_mean

        name = unknown[0]
        raise InteropGateError(
            f"unknown fault {name!r}{did_you_mean(name, FAULTS)}; `interopgate faults` lists them"
        )
    destinations = {}
    for spec in args.move_destination:
        try:
            ae, host, port = spec.split(":")
            destinations[ae] = (host, int(port))
        except ValueError:
            raise InteropGateError(f"--move-destination {spec!r}: expected AE:host:port") from None
    if args.hl7_cancel_status != DEFAULT_CANCEL_STATUS or args.hl7_cancel == "mark":
        try:
            check_cancel_status(args.hl7_cancel_status)
        except ValueError as exc:
            raise InteropGateError(f"--hl7-cancel-status: {exc}") from None
    config = SiteConfig(
        ae_title=args.ae_title,
        host=args.host,
        dicom_port=args.dicom_port,
        hl7_port=args.hl7_port,
        faults=frozenset(args.fault),
        move_destinations=destinations,
        hl7_cancel=args.hl7_cancel,
        hl7_cancel_status=args.hl7_cancel_status,
        max_associations=args.max_associations,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        site = ReferenceSite(config).start()
    except OSError as exc:
        raise InteropGateError(
            f"cannot listen on {args.host} (DICOM port {args.dicom_port}, HL7 port "
            f"{args.hl7_port}): {exc.strerror or exc}"
        ) from None
    host, port = site.dicom_address
    hl7_port = site.hl7_address[1]
    print(
        f"interopgate reference site: DICOM {config.ae_title}@{host}:{port}, "
        f"HL7 (MLLP) {host}:{hl7_port}",
        flush=True,
    )
    print(f"faults: {', '.join(sorted(config.faults)) or 'none'}", flush=True)
    print(
        "profile target for it: "
        f"{{kind: live, host: {host}, dicom_port: {port}, hl7_port: {hl7_port}, "
        f"called_ae: {config.ae_title}}}",
        flush=True,
    )
    print("Ctrl-C to stop", flush=True)
    try:
        stop.wait(args.duration if args.duration else None)
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    """``interopgate probe dicom://AE@host:port``: what a live system accepts, and a
    draft target profile from it (evidence, not a verdict)."""
    from interopgate import probe

    endpoint = probe.parse_address(args.address)
    findings = probe.probe_dicom(endpoint, args.calling_ae)
    if args.hl7_port is not None:
        probe.probe_hl7(findings, endpoint.host, args.hl7_port, args.hl7_message)
    print(probe.table(findings), flush=True)
    output = Path(args.output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(probe.draft_profile(findings), encoding="utf-8")
    except OSError as exc:
        raise InteropGateError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(
        f"draft target profile: {output} (use: pytest --profile=NAME --target={output})",
        flush=True,
    )
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from interopgate.profile import available_profiles, load_profile

    folder = Path(args.profiles_dir)
    for name in available_profiles(folder):
        try:
            loaded = load_profile(name, folder)
            p = loaded.profile
            print(f"{name:24} {p.device.ae_title:16} {p.target.kind:9} {p.description or ''}")
        except InteropGateError as exc:
            print(f"{name:24} INVALID: {str(exc).splitlines()[0]}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from interopgate.profile import load_profile

    loaded = load_profile(args.profile, Path(args.profiles_dir), target=args.target)
    p = loaded.profile
    chain = " <- ".join(str(path) for path in reversed(loaded.chain))
    print(f"{p.name}: valid ({chain})")
    print(f"  device {p.device.ae_title} ({p.device.modality}); target {p.target.kind}")
    print(
        f"  proposes {len(p.dicom.propose)} SOP classes, expects {len(p.dicom.expect_rejected)} "
        f"rejected; {len(p.known_deviations)} known deviation(s)"
    )
    if p.hl7.messages:
        print(
            f"  HL7 {p.hl7.version}: {', '.join(p.hl7.messages)}; "
            f"{len(p.hl7.timestamp_forms)} timestamp form(s) to accept, "
            f"{len(p.hl7.forms_rejected)} to reject ({'strict' if p.hl7.strict else 'lenient'})"
        )
    return 0


def _cmd_checks(args: argparse.Namespace) -> int:
    for check in checks.CHECKS.values():
        print(f"{check.id:40} {check.clause}\n{'':40} {check.title}")
    return 0


def _cmd_faults(args: argparse.Namespace) -> int:
    for fault in FAULTS.values():
        print(f"{fault.name:28} [{fault.layer}] {fault.description}")
        print(f"{'':28} breaks: {', '.join(fault.breaks)}")
    return 0


# The seed incident (an Agfa CR's intermittently empty worklist) on the embedded site: the HL7 engine rejects
# 08:xx/09:xx appointment times (hl7-octal-hours) and still leaves a worklist item with an
# empty Scheduled Procedure Step Sequence (hl7-partial-item-on-reject).
SEED_FAULTS = ("hl7-octal-hours", "hl7-partial-item-on-reject")
SEED_TESTS = (
    "suites/hl7/test_timestamps.py::test_time_sweep_sampled",
    "suites/workflow/test_workflow.py::test_sweep_sampled",
    "suites/workflow/test_workflow.py::test_rejected_create_leaves_no_trace",
)


def _cmd_demo(args: argparse.Namespace) -> int:
    """``interopgate demo seed-incident``: ``pytest --profile=agfa-cr`` with the seed's
    faults on the embedded site, over the checks that show the chain (seconds)."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    if not (repo / "suites" / "workflow").is_dir():
        raise InteropGateError(f"the demo runs from a source checkout (no suites/ in {repo})")
    report_dir = Path(args.report_dir).resolve()
    command = [sys.executable, "-m", "pytest", *SEED_TESTS, "--profile=agfa-cr"]
    command += [f"--site-fault={fault}" for fault in SEED_FAULTS]
    command += [f"--report-dir={report_dir}", "-p", "no:cacheprovider", *args.pytest_args]
    print(
        "seed incident: an EHR sends SIU^S12 appointments; the PACS's "
        "HL7 engine\nrejects some appointment times with AE yet leaves a worklist item with "
        "an empty\nScheduled Procedure Step Sequence (0040,0100), and the Agfa CR's worklist "
        f"shows nothing.\nfaults on the embedded site: {', '.join(SEED_FAULTS)}\n"
        "look for: hl7.timestamp.sweep (08:00-09:59 rejected with AE) -> "
        "workflow.sweep.complete (the refused\n08:xx/09:xx S12s left items with an empty SPS, "
        "named by patient, accession and time)\n$ " + " ".join(command[2:]),
        flush=True,
    )
    code = subprocess.run(command, cwd=repo, check=False).returncode
    print(f"HTML report: {report_dir / 'report.html'}; evidence: {report_dir / 'evidence'}")
    if code == 1:
        print("demo: the seed's chain was caught (the failures above are the point)")
        return 0
    print(f"demo: unexpected pytest exit code {code} (expected 1: checks failed)")
    return 1


def _cmd_emulate(args: argparse.Namespace) -> int:
    """``interopgate emulate``: play the site the device is configured against, record
    what it sends until Ctrl-C or ``--duration``, then judge the recording with the
    device suite (``pytest suites/device --role=scp --recording=...``)."""
    import subprocess

    from pydantic import ValidationError

    from interopgate.emulate.scp import EmulatedSite
    from interopgate.profile import load_profile

    repo = Path(__file__).resolve().parents[2]
    if not (repo / "suites" / "device").is_dir():
        raise InteropGateError(f"emulate judges with suites/device of a source checkout ({repo})")
    profile = load_profile(args.profile, Path(args.profiles_dir)).profile
    changes = {"port": args.port, "host": args.host, "worklist": args.worklist}
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.reject:
        changes["reject"] = [*profile.emulate.reject, *args.reject]
    try:
        settings = type(profile.emulate).model_validate({**profile.emulate.model_dump(), **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InteropGateError(f"emulate: {where}: {error['msg']}") from None
    profile = profile.model_copy(update={"emulate": settings})
    report_dir = Path(args.report_dir).resolve()
    site = EmulatedSite(profile, evidence=report_dir / "evidence" / "emulated-site").start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(site.config_line(), flush=True)
    print(
        f"device: {profile.device.ae_title} (calling AE); worklist: {settings.worklist}; "
        f"rejected: {', '.join(settings.reject) or 'none'}; "
        + (f"recording for {args.duration:g} s" if args.duration else "Ctrl-C ends the recording"),
        flush=True,
    )
    try:
        stop.wait(args.duration if args.duration else None)
    except KeyboardInterrupt:
        pass
    finally:
        session = site.stop()
    folder = report_dir / "emulate-session"
    session.save(folder)
    print(
        f"recorded {len(session.associations)} association(s), {len(session.messages)} "
        f"message(s): {folder}",
        flush=True,
    )
    command = [sys.executable, "-m", "pytest", "suites/device", f"--profile={args.profile}"]
    command += ["--role=scp", f"--recording={folder}", f"--report-dir={report_dir}"]
    command += [f"--profiles-dir={Path(args.profiles_dir).resolve()}", "-p", "no:cacheprovider"]
    code = subprocess.run([*command, *args.pytest_args], cwd=repo, check=False).returncode
    print(f"HTML report: {report_dir / 'report.html'}; evidence: {report_dir / 'evidence'}")
    return code


def _cmd_analyze(args: argparse.Namespace) -> int:
    """``interopgate analyze CAPTURE...``: the console summary, the JUnit file; exit 1
    when there are findings."""
    from interopgate.analysis.findings import analyze
    from interopgate.analysis.report import conformance_report, console, junit

    analysis = analyze([Path(p) for p in args.captures])
    print(console(analysis, limit=args.limit))
    print(f"JUnit: {junit(analysis, Path(args.junit))}")
    html, results = conformance_report(analysis, Path(args.junit).parent)
    print(f"report: {html}, {results}")
    return 1 if analysis.findings else 0


def _add_analyze(sub) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="analyse pcap/pcapng captures of DICOM and HL7 traffic (exit 1 on findings)",
        description="Passive analysis of packet captures a site already has (tcpdump -w, "
        "Wireshark; several files, e.g. a series rotated with tcpdump -G, are read as one): "
        "TCP streams are reassembled and DICOM (any port: found by its A-ASSOCIATE-RQ) and "
        "HL7 over MLLP (any port: <VT>MSH) decoded. Reports associations, every C-FIND with "
        "its keys and the worklist items without a usable Scheduled Procedure Step, every "
        "HL7 message with its ACK, timestamps judged by the message's HL7 version, resends "
        "of one MSH-10, and per accession the chain across both protocols, with frame "
        "numbers and UTC times. Exit status: 0 no findings, 1 findings (one JUnit testcase "
        "each), 2 a capture could not be read.",
    )
    analyze.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap or pcapng file(s)")
    analyze.add_argument(
        "--junit",
        default="reports/analysis-junit.xml",
        metavar="PATH",
        help="where the JUnit XML goes (default reports/analysis-junit.xml)",
    )
    analyze.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="entries shown per console list (default 20)",
    )
    analyze.set_defaults(func=_cmd_analyze)


def _cmd_load(args: argparse.Namespace) -> int:
    """``interopgate load``: its own process (``python -m interopgate.load``), since Locust
    monkey-patches socket and threading with gevent for the whole process."""
    import subprocess

    from interopgate.load.options import check

    problem = check(args)
    if problem:
        raise InteropGateError(problem)
    if importlib.util.find_spec("locust") is None:
        raise InteropGateError(
            "interopgate load runs on Locust, which is not installed here: pip install -e '.[load]'"
        )
    rest = args.raw_argv[args.raw_argv.index("load") + 1 :]
    return subprocess.run([sys.executable, "-m", "interopgate.load", *rest], check=False).returncode


def _add_load(sub) -> None:
    from interopgate.load.options import add_arguments

    load = sub.add_parser(
        "load",
        help="load the target as the profile's modalities and order placers do (Locust)",
        description="Headless, bounded load on Locust: modalities query the worklist every "
        "load.query_interval s, report MPPS and store images; order placers send the "
        "profile's create message at load.message_rate a second over MLLP. Prints p50/p95/"
        "p99, throughput and errors per operation, checks that no acknowledged order and "
        "no stored instance was lost, opens load.max_associations and one more, and writes "
        "a JUnit verdict. Exit 0 pass, 1 a check failed, 2 bad input. --master / --worker "
        "spread the users over machines (docs/load.md).",
    )
    add_arguments(load)
    load.set_defaults(func=_cmd_load)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interopgate",
        description="InteropGate: DICOM / HL7 v2 conformance harness. The conformance run is "
        "`pytest --profile=NAME` (see README); this command runs the reference site, "
        "probes a live system, analyses captures and lists profiles, checks and faults.",
    )
    parser.add_argument("--version", action="version", version=f"interopgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    site = sub.add_parser(
        "site",
        help="run the embedded reference site (PACS + worklist) until Ctrl-C",
        description="Run the embedded reference site so other tools can talk to it, e.g. "
        "`echoscu -aec IG_PACS 127.0.0.1 11112`, an HL7 sender on the MLLP port, or a "
        "harness run with a live profile.",
    )
    site.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    site.add_argument(
        "--dicom-port",
        type=int,
        default=11112,
        help="DICOM port (default 11112; 0 picks a free port)",
    )
    site.add_argument(
        "--hl7-port",
        type=int,
        default=2575,
        help="HL7 v2 MLLP port (default 2575; 0 picks a free port)",
    )
    site.add_argument("--ae-title", default="IG_PACS", help="the site's AE title (default IG_PACS)")
    site.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on a fault (repeatable); `interopgate faults` lists them",
    )
    site.add_argument(
        "--move-destination",
        action="append",
        default=[],
        metavar="AE:HOST:PORT",
        help="a C-MOVE destination the site knows (repeatable)",
    )
    site.add_argument(
        "--hl7-cancel",
        choices=["remove", "mark"],
        default="remove",
        help="what an HL7 cancel (S15, ORC-1 CA) does to the worklist item, as a profile's "
        "hl7.cancel says (default remove)",
    )
    site.add_argument(
        "--hl7-cancel-status",
        default=DEFAULT_CANCEL_STATUS,
        metavar="STATUS",
        help="with --hl7-cancel mark: the Scheduled Procedure Step Status (0040,0020) of a "
        f"cancelled item (default {DEFAULT_CANCEL_STATUS})",
    )
    site.add_argument(
        "--max-associations",
        type=int,
        default=32,
        metavar="N",
        help="concurrent associations; beyond: A-ASSOCIATE-RJ transient, local-limit-exceeded "
        "(default 32)",
    )
    site.add_argument("--duration", type=float, default=0, help=argparse.SUPPRESS)
    site.set_defaults(func=_cmd_site)

    probe_cmd = sub.add_parser(
        "probe",
        help="ask a live DICOM (and HL7) system what it accepts; write a draft target profile",
        description="Propose a catalogue of SOP classes with one presentation context per "
        "transfer syntax, check how the called AE title is treated, read max PDU and "
        "implementation identity, and (with --hl7-port) send one valid SIU^S12/ORM^O01 "
        "(cancelled again when accepted). Prints a table and writes a draft target profile "
        "(no known deviations: discovery is evidence, not a verdict).",
    )
    probe_cmd.add_argument("address", metavar="dicom://AE@host:port")
    probe_cmd.add_argument("--hl7-port", type=int, metavar="PORT", help="the MLLP port to ask")
    probe_cmd.add_argument(
        "--hl7-message",
        choices=["SIU^S12", "ORM^O01"],
        default="SIU^S12",
        help="the create message to send (default SIU^S12)",
    )
    probe_cmd.add_argument(
        "--calling-ae", default="INTEROPGATE", help="our AE title (default INTEROPGATE)"
    )
    probe_cmd.add_argument(
        "-o",
        "--output",
        default="probed-target.yaml",
        help="where the draft target profile goes (default probed-target.yaml)",
    )
    probe_cmd.set_defaults(func=_cmd_probe)

    profiles = sub.add_parser("profiles", help="list the profiles in profiles/")
    profiles.add_argument("--profiles-dir", default="profiles")
    profiles.set_defaults(func=_cmd_profiles)

    validate = sub.add_parser("validate", help="validate a profile (name or path) and summarise it")
    validate.add_argument("profile")
    validate.add_argument("--target", help="as pytest --target")
    validate.add_argument("--profiles-dir", default="profiles")
    validate.set_defaults(func=_cmd_validate)

    sub.add_parser("checks", help="list the conformance checks and their clauses").set_defaults(
        func=_cmd_checks
    )
    sub.add_parser("faults", help="list the reference site's fault catalogue").set_defaults(
        func=_cmd_faults
    )
    demo = sub.add_parser(
        "demo",
        help="replay a known incident on the embedded site (seed-incident)",
        description="seed-incident: run `pytest --profile=agfa-cr` with the seed's faults "
        "(rejected S12 at 08:xx -> MWL item with empty SPS) and show the failing chain.",
    )
    demo.add_argument("scenario", choices=["seed-incident"])
    demo.add_argument(
        "--report-dir", default="reports/seed-incident", help="default reports/seed-incident"
    )
    demo.add_argument("pytest_args", nargs=argparse.REMAINDER, help="more pytest arguments")
    demo.set_defaults(func=_cmd_demo)
    emulate = sub.add_parser(
        "emulate",
        help="the device under test: play its site (MWL, MPPS, Storage, Commitment, "
        "Verification SCP), record what it sends, judge it (device.* checks)",
        description="Listen as the site the device is configured against (the profile's "
        "emulate: section), print the AE/host/port to type into the modality, record until "
        "Ctrl-C or --duration, then run suites/device on the recording: JUnit, HTML and "
        "evidence in --report-dir.",
    )
    emulate.add_argument("--profile", required=True, help="the device's profile (name or path)")
    emulate.add_argument("--profiles-dir", default="profiles", help="default profiles/")
    emulate.add_argument("--host", help="listen address (default: the profile's emulate.host)")
    emulate.add_argument(
        "--port", type=int, help="listen port, 0 for a free one (default: emulate.port)"
    )
    emulate.add_argument(
        "--reject",
        action="append",
        default=[],
        metavar="SOPCLASS",
        help="reject this SOP class's presentation context (repeatable)",
    )
    emulate.add_argument(
        "--worklist", choices=["standard", "hard"], help="default emulate.worklist"
    )
    emulate.add_argument(
        "--duration", type=float, default=0, help="seconds to record (default: until Ctrl-C)"
    )
    emulate.add_argument("--report-dir", default="reports", help="default reports/")
    emulate.add_argument("pytest_args", nargs=argparse.REMAINDER, help="more pytest arguments")
    emulate.set_defaults(func=_cmd_emulate)
    _add_analyze(sub)
    _add_load(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        # As a command only (`interopgate checks | head` ends quietly): called with an
        # argv from a host process (a test runner, a tool), the host's SIGPIPE handling
        # stays, so a write to a closed socket there raises EPIPE instead of killing it.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    args.raw_argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args))
    except InteropGateError as exc:
        print(f"interopgate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
