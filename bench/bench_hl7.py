"""Benchmark: the harness's MLLP sender against python-hl7's ``mllp_send``, same target.

The time sweep sends 1,440 appointments; this measures what that costs. It starts
`interopgate site` in its own process (or uses ``--hl7 HOST:PORT``, e.g. the
MessageFoundry site started by hand), builds N SIU^S12 messages, and times on one
persistent connection, each message waiting for its ACK:

* the harness (interopgate.hl7.mllp.MLLPClient, ACKs parsed with hl7apy as the suites
  do) vs ``mllp_send`` (python-hl7's command-line sender, a third-party reference) on
  the same number of messages (fresh MSH-10s, so no run sees the other's resends);
* building the messages: one hl7apy build per message vs the sweep's ``Variants``
  (one build, then text substitution);

and prints ratios (harness / reference) plus the harness process's peak RSS.
Usage: python bench/bench_hl7.py [--n 1440] [--hl7 127.0.0.1:2575]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.hl7_messages import HL7MessageFactory
from fixtures.patients import make_faker
from interopgate.hl7.messages import read_reply
from interopgate.hl7.mllp import MLLPClient, frame

ROOT = Path(__file__).resolve().parents[1]
TIME_FIELDS = ["SCH-11.4", "TQ1-7", "AIS-4"]


def start_site() -> tuple[subprocess.Popen, tuple[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "interopgate.cli", "site", "--dicom-port", "0", "--hl7-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    match = re.search(r"HL7 \(MLLP\) ([\d.]+):(\d+)", process.stdout.readline())
    assert match, "site did not start"
    return process, (match.group(1), int(match.group(2)))


def mllp_send_tool() -> str | None:
    """python-hl7's sender: on PATH, or in the MessageFoundry venv (it depends on hl7)."""
    found = shutil.which("mllp_send")
    if found:
        return found
    venv = ROOT / ".venv-messagefoundry" / "bin" / "mllp_send"
    return str(venv) if venv.exists() else None


def messages(factory: HL7MessageFactory, n: int, prefix: str) -> list[str]:
    """N appointments, one per minute of a day, by the sweep's fast copies."""
    template = factory.build("SIU^S12")
    variants = factory.variants(template, TIME_FIELDS)
    day = dt.datetime.now() + dt.timedelta(days=1)
    out = []
    for i in range(n):
        minute = i % 1440
        stamp = day.replace(hour=minute // 60, minute=minute % 60).strftime("%Y%m%d%H%M00")
        out.append(variants.make(dict.fromkeys(TIME_FIELDS, stamp), f"{prefix}{i:08d}").text)
    return out


def harness_send(address: tuple[str, int], texts: list[str]) -> int:
    accepted = 0
    with MLLPClient(*address, read_timeout=10, persistent=True) as client:
        for text in texts:
            exchange = client.send(text)
            ack, _ = read_reply(exchange.reply_text, exchange.problem)
            accepted += ack is not None and ack.msa_1 in ("AA", "CA")
    return accepted


def reference_send(tool: str, address: tuple[str, int], texts: list[str], folder: Path) -> int:
    path = folder / "messages.mllp"
    path.write_bytes(b"".join(frame(t) for t in texts))
    out = subprocess.run(
        [tool, "--file", str(path), "--port", str(address[1]), address[0]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return len(re.findall(r"MSA\|(?:AA|CA)\|", out))


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1440, help="messages per measurement")
    parser.add_argument("--hl7", help="HOST:PORT of a running MLLP receiver (default: start one)")
    args = parser.parse_args()
    tool = mllp_send_tool()
    if tool is None:
        print("python-hl7's mllp_send is not installed (pip install hl7): no reference")
        return 2
    factory = HL7MessageFactory(make_faker(1), "2.5")
    build_each, _ = timed(lambda: [factory.build("SIU^S12").text for _ in range(min(args.n, 200))])
    build_each *= args.n / min(args.n, 200)
    build_fast, _ = timed(lambda: messages(factory, args.n, "BV"))
    process = None
    if args.hl7:
        host, port = args.hl7.rsplit(":", 1)
        address = (host, int(port))
    else:
        process, address = start_site()
    try:
        ours_texts = messages(factory, args.n, "BH")
        ref_texts = messages(factory, args.n, "BR")
        ours, ours_ok = timed(lambda: harness_send(address, ours_texts))
        with tempfile.TemporaryDirectory() as tmp:
            ref, ref_ok = timed(lambda: reference_send(tool, address, ref_texts, Path(tmp)))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    target = f"{address[0]}:{address[1]}" + (" (interopgate site)" if process else "")
    print(f"target {target}; reference: {tool}")
    print(f"{'measurement':44} {'harness s':>10} {'ref s':>10} {'ratio':>7}")
    rows = [
        (f"{args.n} x SIU^S12 + ACK, one connection", ours, ref),
        (f"build {args.n} SIU^S12: Variants vs hl7apy each", build_fast, build_each),
    ]
    for name, a, b in rows:
        print(f"{name:44} {a:10.3f} {b:10.3f} {a / b:7.2f}")
    print(f"accepted: harness {ours_ok}/{args.n}, reference {ref_ok}/{args.n}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"harness peak RSS: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
