"""All benchmarks in one run: like-for-like pairs, written to bench/results.md and .json.

Every row times two sides doing the same work against the same peer in this one run, so
the ratio means something even on a loaded machine; the floor row (a bare TCP echo on
loopback) says what the physical limit is, and each figure is also given as a multiple
of it. Usage: ``python bench/run.py [--n 200] [--self-tests]`` (the self-tests take
minutes: opt in).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_dicom  # noqa: E402
import bench_hl7  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402
from pynetdicom import AE  # noqa: E402
from pynetdicom import sop_class as sop  # noqa: E402

from fixtures.dicom_objects import make_image  # noqa: E402
from fixtures.hl7_messages import HL7MessageFactory  # noqa: E402
from fixtures.patients import make_faker  # noqa: E402
from interopgate.dicom.association import open_association  # noqa: E402

CALLING = bench_dicom.CALLING
ECHO = [(sop.Verification, [ExplicitVRLittleEndian])]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------------ the floor


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(data)


def tcp_floor(n: int) -> float:
    """Seconds per round trip of 64 bytes over one loopback TCP connection, Nagle off."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.perf_counter()
            for _ in range(n):
                sock.sendall(b"x" * 64)
                got = 0
                while got < 64:
                    got += len(sock.recv(64))
            return (time.perf_counter() - start) / n
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------ DICOM


def dcmtk(args: list[str], env: dict[str, str] | None = None) -> None:
    argv = [bench_dicom.dcmtk_tool(args[0]) or args[0], *args[1:]]
    environment = {k: v for k, v in os.environ.items() if k != "TCP_NODELAY"}
    environment.update(env or {})  # None: DCMTK as installed, Nagle on
    subprocess.run(argv, check=True, capture_output=True, env=environment)


# C-ECHOs without a Success response (pynetdicom's reactor can take a fast response off
# the queue, and the request then waits for the DIMSE timeout): counted, reported.
FAILED_ECHOES: list[str] = []


def _echo(assoc, label: str) -> None:
    if assoc.send_c_echo().get("Status") != 0:
        FAILED_ECHOES.append(label)


def echo_one_association(endpoint, n: int) -> None:
    with open_association(endpoint, CALLING, ECHO) as (assoc, _):
        for _ in range(n):
            _echo(assoc, "harness, one association")


def echo_per_association(endpoint, n: int) -> None:
    for _ in range(n):
        with open_association(endpoint, CALLING, ECHO) as (assoc, _):
            _echo(assoc, "harness, association each")


def bare_pynetdicom_per_association(endpoint, n: int) -> None:
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(sop.Verification, ExplicitVRLittleEndian)
    for _ in range(n):
        assoc = ae.associate(endpoint.host, endpoint.port, ae_title=endpoint.called_ae)
        assert assoc.is_established
        _echo(assoc, "bare pynetdicom")
        assoc.release()


def start_storescp(folder: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            bench_dicom.dcmtk_tool("storescp") or "storescp",
            "-od",
            str(folder),
            "--ignore",
            str(port),
        ],
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("storescp did not start")


def store_rows(n_small: int, rows: list[dict]) -> None:
    """C-STORE of a 1 MB and a 30 MB CR image, harness vs storescu, to one storescp
    (``--ignore``: received, not written, so the disk is not measured)."""
    from interopgate.dicom.association import Endpoint

    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_storescp(Path(tmp))
        endpoint = Endpoint("127.0.0.1", port, "STORESCP")
        try:
            for megabytes, count in ((1, n_small), (30, 3)):
                side = int((megabytes * 1024 * 1024 / 2) ** 0.5)
                image = make_image(
                    sop.ComputedRadiographyImageStorage,
                    make_faker(1).patient(),
                    rows=side,
                    columns=side,
                )
                path = Path(tmp) / f"cr{megabytes}.dcm"
                image.save_as(path, enforce_file_format=True)
                size = path.stat().st_size * count / 1e6
                ours = timed(lambda i=image, c=count: bench_dicom.harness_store(endpoint, i, c))
                ref = timed(
                    lambda c=count, p=path: dcmtk(
                        [
                            "storescu",
                            "-aet",
                            CALLING,
                            "-aec",
                            "STORESCP",
                            "--repeat",
                            str(c),
                            "127.0.0.1",
                            str(port),
                            str(p),
                        ],
                        {"TCP_NODELAY": "1"},
                    )
                )
                rows.append(
                    row(
                        f"C-STORE {megabytes} MB x {count}, one association, MB/s",
                        "harness (pynetdicom)",
                        "storescu --repeat (TCP_NODELAY=1)",
                        ours,
                        ref,
                        unit="MB/s",
                        ours_value=size / ours,
                        ref_value=size / ref,
                    )
                )
        finally:
            process.terminate()
            process.wait(timeout=10)


# ------------------------------------------------------------------------ worklist

PATIENT = "BENCHPT01"


def start_full_site() -> tuple[subprocess.Popen, object, tuple[str, int]]:
    """`interopgate site` on free DICOM and MLLP ports: (process, endpoint, hl7 address)."""
    import re

    from interopgate.dicom.association import Endpoint

    process = subprocess.Popen(
        [sys.executable, "-m", "interopgate.cli", "site", "--dicom-port", "0", "--hl7-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    dicom = re.search(r"DICOM (\S+)@([\d.]+):(\d+)", line)
    hl7 = re.search(r"HL7 \(MLLP\) ([\d.]+):(\d+)", line)
    assert dicom and hl7, f"site did not start: {line!r}"
    endpoint = Endpoint(dicom.group(2), int(dicom.group(3)), dicom.group(1))
    return process, endpoint, (hl7.group(1), int(hl7.group(2)))


def seed_worklist(address: tuple[str, int], count: int) -> None:
    """``count`` SIU^S12 for one patient, each its own appointment and accession, fed
    through the site's own MLLP interface (as an EHR would)."""
    from interopgate.hl7.er7 import value
    from interopgate.workflow import ID_FIELDS

    factory = HL7MessageFactory(make_faker(3), "2.5")
    template = factory.build("SIU^S12")
    ids = [f for f in ID_FIELDS["SIU"] if value(template.text, f)]
    variants = factory.variants(template, [*ids, "PID-3"])
    texts = []
    for i in range(count):
        values = {f: f"B{f[4:]}{i:06d}" for f in ids}
        values["PID-3"] = f"{PATIENT}^^^IG_HOSPITAL^MR"
        texts.append(variants.make(values, f"BW{i:08d}").text)
    assert bench_hl7.harness_send(address, texts) == count


def worklist_query(key: str, match: str):
    from pydicom.dataset import Dataset

    step = Dataset()
    step.Modality = ""
    step.ScheduledProcedureStepStartDate = ""
    query = Dataset()
    query.PatientName = ""
    query.PatientID = match if key == "PatientID" else ""
    query.AccessionNumber = match if key == "AccessionNumber" else ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def harness_find(endpoint, query, repeat: int, expected: int) -> None:
    contexts = [(sop.ModalityWorklistInformationFind, [ExplicitVRLittleEndian])]
    with open_association(endpoint, CALLING, contexts) as (assoc, _):
        for _ in range(repeat):
            matches = sum(
                1
                for status, identifier in assoc.send_c_find(
                    query, sop.ModalityWorklistInformationFind
                )
                if status and status.Status in (0xFF00, 0xFF01)
            )
            assert matches == expected, matches


def worklist_rows(rows: list[dict]) -> None:
    process, endpoint, address = start_full_site()
    try:
        seed_worklist(address, 500)
        base = ["findscu", "-W", "-aet", CALLING, "-aec", endpoint.called_ae, "-X"]
        keys = ["-k", "PatientName", "-k", "(0040,0100)[0].Modality"]
        keys += ["-k", "(0040,0100)[0].ScheduledProcedureStepStartDate"]
        where = [endpoint.host, str(endpoint.port)]
        with tempfile.TemporaryDirectory() as tmp:
            for key, match, expected, repeat in (
                ("AccessionNumber", "B27000007", 1, 50),
                ("PatientID", PATIENT, 500, 3),
            ):
                query = worklist_query(key, match)
                ours = timed(lambda q=query, r=repeat, e=expected: harness_find(endpoint, q, r, e))
                argv = [*base, "--repeat", str(repeat), "-od", tmp, *keys, "-k", f"{key}={match}"]
                ref = timed(lambda a=argv: dcmtk([*a, *where], {"TCP_NODELAY": "1"}))
                rows.append(
                    row(
                        f"{repeat} MWL C-FIND x {expected} match(es), one association",
                        "harness (pynetdicom)",
                        "findscu -W --repeat (TCP_NODELAY=1)",
                        ours,
                        ref,
                    )
                )
    finally:
        process.terminate()
        process.wait(timeout=10)


# ------------------------------------------------------------------------ rows


def row(what, ours_label, ref_label, ours, ref, *, unit="s", ours_value=None, ref_value=None):
    return {
        "what": what,
        "harness": ours_label,
        "reference": ref_label,
        "harness_s": round(ours, 4),
        "reference_s": round(ref, 4),
        "ratio": round(ours / ref, 2),
        "unit": unit,
        "harness_value": round(ours_value, 2) if ours_value is not None else None,
        "reference_value": round(ref_value, 2) if ref_value is not None else None,
    }


def pytest_seconds(args: list[str]) -> float:
    """Wall seconds of a pytest run in a fresh process (as a user runs it)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return timed(
        lambda: subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
            cwd=ROOT,
            env=env,
            check=False,
            capture_output=True,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="operations per DICOM row")
    parser.add_argument("--hl7-n", type=int, default=1440, help="SIU^S12 per MLLP row")
    parser.add_argument("--self-tests", action="store_true", help="also time pytest tests -n 4")
    args = parser.parse_args()
    if not bench_dicom.dcmtk_tool("echoscu"):
        print("DCMTK is not installed (apt-get install dcmtk): no reference to compare with")
        return 2
    n = args.n
    floor = tcp_floor(2000)
    rows: list[dict] = []
    process, endpoint = bench_dicom.start_site()
    try:
        host, port, aec = endpoint.host, str(endpoint.port), endpoint.called_ae
        echo = ["echoscu", "-aet", CALLING, "-aec", aec]
        ours = timed(lambda: echo_one_association(endpoint, n))
        for env, label in ((None, "without TCP_NODELAY"), ({"TCP_NODELAY": "1"}, "TCP_NODELAY=1")):
            ref = timed(lambda env=env: dcmtk([*echo, "--repeat", str(n), host, port], env))
            rows.append(
                row(
                    f"{n} C-ECHO on ONE association",
                    "harness (pynetdicom, TCP_NODELAY)",
                    f"echoscu --repeat {n} ({label})",
                    ours,
                    ref,
                )
            )
        m = max(10, n // 4)
        ours = timed(lambda: echo_per_association(endpoint, m))
        ref = timed(lambda: [dcmtk([*echo, host, port], {"TCP_NODELAY": "1"}) for _ in range(m)])
        bare = timed(lambda: bare_pynetdicom_per_association(endpoint, m))
        rows.append(
            row(
                f"{m} associations, one C-ECHO each", "harness", f"{m} echoscu processes", ours, ref
            )
        )
        rows.append(
            row(f"{m} associations, one C-ECHO each", "harness", "pynetdicom bare AE", ours, bare)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    store_rows(max(5, n // 10), rows)
    worklist_rows(rows)

    tool = bench_hl7.mllp_send_tool()
    if tool:
        factory = HL7MessageFactory(make_faker(1), "2.5")
        process, address = bench_hl7.start_site()
        try:
            mine = bench_hl7.messages(factory, args.hl7_n, "BH")
            theirs = bench_hl7.messages(factory, args.hl7_n, "BR")
            ours = timed(lambda: bench_hl7.harness_send(address, mine))
            with tempfile.TemporaryDirectory() as tmp:
                ref = timed(lambda: bench_hl7.reference_send(tool, address, theirs, Path(tmp)))
            rows.append(
                row(
                    f"{args.hl7_n} SIU^S12 + ACK, one MLLP connection (interopgate site)",
                    "harness MLLPClient",
                    "python-hl7 mllp_send",
                    ours,
                    ref,
                )
            )
        finally:
            process.terminate()
            process.wait(timeout=10)

    runs = {
        "default suite (pytest --profile=agfa-cr)": ["--profile=agfa-cr"],
        "full sweep (pytest --profile=agfa-cr -m sweep)": ["--profile=agfa-cr", "-m", "sweep"],
    }
    if args.self_tests:
        runs["self-tests (pytest tests -n 4)"] = ["tests", "-n", "4"]
    wall = {name: round(pytest_seconds(argv), 1) for name, argv in runs.items()}

    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": os.getloadavg(),
        "tcp_floor_s": floor,
        "rows": rows,
        "pytest_wall_s": wall,
        "echoes_without_success": FAILED_ECHOES,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    floor = result["tcp_floor_s"]
    lines = [
        "# Benchmark results",
        "",
        f"Regenerate with `python bench/run.py` (this file and results.json). {result['when']},"
        f" {result['machine']}, load average {', '.join(f'{x:.1f}' for x in result['load_average'])}."
        " Both sides of a row ran in the same run against the same peer; ratio = harness /"
        " reference (below 1: the harness is faster).",
        "",
        f"Floor: a bare TCP echo round trip on loopback (64 bytes, TCP_NODELAY) takes "
        f"{floor * 1e6:.0f} µs.",
        "",
        "| what | harness | reference | harness s | reference s | ratio | harness / op in floors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        values = ""
        if r["unit"] == "MB/s":
            values = f" ({r['harness_value']} vs {r['reference_value']} MB/s)"
        count = int(r["what"].split()[0]) if r["what"].split()[0].isdigit() else 0
        per_op = f"{r['harness_s'] / count / floor:.0f}x" if count else ""
        lines.append(
            f"| {r['what']}{values} | {r['harness']} | {r['reference']} | {r['harness_s']} |"
            f" {r['reference_s']} | {r['ratio']} | {per_op} |"
        )
    if result["echoes_without_success"]:
        lines += ["", f"C-ECHOs without a Success response: {result['echoes_without_success']}"]
    lines += ["", "| pytest run | wall s (fresh process) |", "| --- | --- |"]
    lines += [f"| {name} | {secs} |" for name, secs in result["pytest_wall_s"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
