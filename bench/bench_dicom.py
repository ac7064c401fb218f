"""Benchmark: the harness's DICOM client against DCMTK on the same target, same command.

Starts `interopgate site` in its own process (so server and client do not share a GIL),
then times, on that one target:

* N C-ECHOs on ONE association: harness (pynetdicom via interopgate.dicom) vs
  `echoscu --repeat N` (which also sends its N on one association, ``echoscu -d``
  shows one "Requesting Association"), DCMTK with TCP_NODELAY=1 as the targets run it;
* N C-STOREs of one CR image over one association: harness vs `storescu --repeat N`;

and prints each ratio (harness / DCMTK) plus the harness process's peak RSS.
Usage: python bench/bench_dicom.py [--n 200] [--image-kib 512]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image
from fixtures.patients import make_faker
from interopgate.dicom.association import Endpoint, open_association

CALLING = "BENCH_SCU"


def start_site() -> tuple[subprocess.Popen, Endpoint]:
    process = subprocess.Popen(
        [sys.executable, "-m", "interopgate.cli", "site", "--dicom-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    match = re.search(r"DICOM (\S+)@([\d.]+):(\d+)", process.stdout.readline())
    assert match, "site did not start"
    return process, Endpoint(match.group(2), int(match.group(3)), match.group(1))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def harness_echo(endpoint: Endpoint, n: int) -> None:
    with open_association(endpoint, CALLING, [(sop.Verification, [ExplicitVRLittleEndian])]) as (
        assoc,
        _,
    ):
        for _ in range(n):
            assert assoc.send_c_echo().Status == 0


def harness_store(endpoint: Endpoint, dataset, n: int) -> None:
    contexts = [(sop.ComputedRadiographyImageStorage, [ExplicitVRLittleEndian])]
    with open_association(endpoint, CALLING, contexts) as (assoc, _):
        for _ in range(n):
            assert assoc.send_c_store(dataset).Status == 0


def dcmtk_tool(name: str) -> str | None:
    """DCMTK's binary, not pynetdicom's same-named console script from the venv."""
    for folder in ("/usr/bin", "/usr/local/bin"):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    return None


def dcmtk(args: list[str]) -> None:
    args = [dcmtk_tool(args[0]) or args[0], *args[1:]]
    env = {**os.environ, "TCP_NODELAY": "1"}  # as the targets run DCMTK (targets/dcmtk.py)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="operations per measurement")
    parser.add_argument("--image-kib", type=int, default=512, help="CR pixel data size")
    args = parser.parse_args()
    if not (dcmtk_tool("echoscu") and dcmtk_tool("storescu")):
        print("DCMTK is not installed (apt-get install dcmtk): no reference to compare with")
        return 2
    process, endpoint = start_site()
    try:
        host, port, aec = endpoint.host, str(endpoint.port), endpoint.called_ae
        side = int((args.image_kib * 1024 / 2) ** 0.5)
        image = make_image(
            sop.ComputedRadiographyImageStorage, make_faker(1).patient(), rows=side, columns=side
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cr.dcm"
            image.save_as(path, enforce_file_format=True)
            rows = []
            ours = timed(lambda: harness_echo(endpoint, args.n))
            ref = timed(
                lambda: dcmtk(
                    ["echoscu", "-aet", CALLING, "-aec", aec, "--repeat", str(args.n), host, port]
                )
            )
            rows.append((f"{args.n} x C-ECHO, one association", ours, ref))
            ours = timed(lambda: harness_store(endpoint, image, args.n))
            ref = timed(
                lambda: dcmtk(
                    [
                        "storescu",
                        "-aet",
                        CALLING,
                        "-aec",
                        aec,
                        "--repeat",
                        str(args.n),
                        host,
                        port,
                        str(path),
                    ]
                )
            )
            rows.append((f"{args.n} x C-STORE {len(image.PixelData) // 1024} KiB", ours, ref))
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"{'measurement':34} {'harness s':>10} {'DCMTK s':>10} {'ratio':>7}")
    for name, ours, ref in rows:
        print(f"{name:34} {ours:10.3f} {ref:10.3f} {ours / ref:7.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"harness peak RSS: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
