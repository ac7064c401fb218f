"""The ``interopgate load`` command line, shared by the CLI (help, checking) and the load
process (``python -m interopgate.load``), which must start before anything imports
gevent-unpatched sockets."""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s?)?")


def duration(text: str) -> float:
    """``60``, ``60s``, ``2m``, ``1h30m`` → seconds (as Locust's ``-t`` reads them)."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 60s, 2m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be more than 0 s")
    return total


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile name or path (all but --worker)")
    parser.add_argument("--target", help="as pytest --target: another system to load")
    parser.add_argument("--profiles-dir", default="profiles")
    parser.add_argument(
        "--site-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on a fault of the embedded site (repeatable)",
    )
    parser.add_argument("-u", "--users", type=int, help="users in all (default: load.users)")
    parser.add_argument(
        "-r", "--spawn-rate", type=float, help="users started a second (default: load.spawn_rate)"
    )
    parser.add_argument(
        "-t", "--duration", type=duration, help="traffic time, e.g. 60s (default: load.duration)"
    )
    parser.add_argument(
        "--message-rate",
        type=float,
        help="HL7 create messages a second in all (default: load.message_rate)",
    )
    parser.add_argument(
        "--junit",
        default="reports/load-junit.xml",
        metavar="PATH",
        help="where the JUnit verdict goes (default reports/load-junit.xml)",
    )
    parser.add_argument(
        "--no-limit-check",
        action="store_true",
        help="skip the association-limit check (load.max_associations)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--master",
        action="store_true",
        help="run the Locust master: start (or reach) the target, wait for --expect-workers "
        "workers, spread the users over them, judge the run",
    )
    mode.add_argument(
        "--worker",
        action="store_true",
        help="run a Locust worker: play the users the master gives it (needs --master-host)",
    )
    parser.add_argument("--master-host", default="127.0.0.1", help="the master's address (workers)")
    parser.add_argument(
        "--master-bind-host", default="*", help="where the master listens (default: all)"
    )
    parser.add_argument("--master-port", type=int, default=5557, help="default 5557")
    parser.add_argument(
        "--expect-workers", type=int, default=1, help="workers the master waits for (default 1)"
    )
    parser.add_argument(
        "--worker-wait",
        type=duration,
        default=60.0,
        help="how long the master waits for its workers (default 60s)",
    )


def check(args: argparse.Namespace) -> str | None:
    """One sentence on what is wrong with the arguments, or None."""
    if not args.worker and not args.profile:
        return "--profile is required (except with --worker)"
    if args.users is not None and args.users < 1:
        return f"--users {args.users}: at least 1"
    if args.spawn_rate is not None and args.spawn_rate <= 0:
        return f"--spawn-rate {args.spawn_rate:g}: more than 0"
    if args.message_rate is not None and args.message_rate <= 0:
        return f"--message-rate {args.message_rate:g}: more than 0"
    if args.expect_workers < 1:
        return f"--expect-workers {args.expect_workers}: at least 1"
    return None
