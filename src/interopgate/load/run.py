"""One load run: the target up, Locust's runner (local, master or worker) for the
bounded time, then the loss checks, the association limit and the verdict.

The embedded site runs in its own process (``interopgate site``): in this one gevent
schedules the users, and a site sharing its hub would add its own work to every
latency measured. Process targets start as for pytest (targets/).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
from locust.env import Environment
from locust.log import setup_logging

from interopgate.dicom.association import Endpoint
from interopgate.errors import InteropGateError
from interopgate.load import limit, verdict, verify
from interopgate.load.options import add_arguments, check
from interopgate.load.plan import Ledger, Plan
from interopgate.load.users import Context, Modality, OrderPlacer, QuietTranscript, install
from interopgate.profile import Load, Profile, load_profile

PLAN_MESSAGE, LEDGER_MESSAGE = "ig-plan", "ig-ledger"
STOP_TIMEOUT_S = 15.0  # users finish the operation they are in (a C-STORE, an ACK)


@contextlib.contextmanager
def embedded_site(profile: Profile) -> Iterator[tuple[Endpoint, tuple[str, int], str]]:
    """``interopgate site`` on free loopback ports, with the profile's faults and the
    declared association limit; stopped with SIGTERM."""
    target = profile.target
    command = [sys.executable, "-m", "interopgate.cli", "site", "--dicom-port", "0"]
    command += ["--hl7-port", "0", "--ae-title", target.called_ae]
    command += ["--hl7-cancel", profile.hl7.cancel]
    if profile.load.max_associations is not None:
        command += ["--max-associations", str(profile.load.max_associations)]
    for fault in getattr(target, "faults", []):
        command += ["--fault", fault]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "DICOM" not in line:
            raise InteropGateError(
                f"the embedded site did not start: {line.strip() or 'no output'}"
            )
        dicom, hl7 = line.split("DICOM ", 1)[1].split(", HL7 (MLLP) ")
        ae, address = dicom.split("@")
        host, port = address.rsplit(":", 1)
        hl7_host, hl7_port = hl7.strip().rsplit(":", 1)
        endpoint = Endpoint(host, int(port), ae, target.connect_timeout, target.dimse_timeout)
        faults = ", ".join(getattr(target, "faults", [])) or "none"
        yield endpoint, (hl7_host, int(hl7_port)), f"embedded site {endpoint} (faults: {faults})"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def target_of(profile: Profile) -> Iterator[tuple[Endpoint, tuple[str, int] | None, str]]:
    if profile.target.kind == "embedded":
        with embedded_site(profile) as reached:
            yield reached
        return
    from interopgate import targets

    work = Path("reports") / "load"
    with targets.start(profile, profile.device.ae_title, work) as running:
        yield running.endpoint, running.hl7_address, running.description


def _stats(environment: Environment, seconds: float) -> list[verdict.OperationStats]:
    errors: dict[str, str] = {}
    for error in environment.stats.errors.values():
        errors.setdefault(error.name, str(error.error))
    out = []
    for (name, method), entry in sorted(
        environment.stats.entries.items(), key=lambda e: e[0][1] + e[0][0]
    ):
        if not entry.num_requests:
            continue
        out.append(
            verdict.OperationStats(
                method,
                name,
                entry.num_requests,
                entry.num_failures,
                entry.get_response_time_percentile(0.5) or 0.0,
                entry.get_response_time_percentile(0.95) or 0.0,
                entry.get_response_time_percentile(0.99) or 0.0,
                entry.num_requests / seconds if seconds else 0.0,
                errors.get(name, ""),
            )
        )
    return out


def _profile(args: argparse.Namespace) -> Profile:
    loaded = load_profile(
        args.profile, Path(args.profiles_dir), target=args.target, extra_faults=args.site_fault
    )
    profile = loaded.profile
    changes = {}
    if args.users is not None:
        changes["users"] = args.users
    if args.spawn_rate is not None:
        changes["spawn_rate"] = args.spawn_rate
    if args.duration is not None:
        changes["duration"] = args.duration
    if args.message_rate is not None:
        changes["message_rate"] = args.message_rate
    if changes:
        if "users" in changes and profile.load.senders >= changes["users"]:
            changes["senders"] = changes["users"] - 1
        data = {**profile.load.model_dump(mode="json", exclude_unset=True), **changes}
        try:
            load = Load.model_validate(data)
        except ValueError as exc:
            raise InteropGateError(f"load options: {exc}") from None
        profile = profile.model_copy(update={"load": load})
    return profile


def _environment() -> Environment:
    return Environment(user_classes=[Modality, OrderPlacer], stop_timeout=STOP_TIMEOUT_S)


def _worker(args: argparse.Namespace) -> int:
    environment = _environment()
    runner = environment.create_worker_runner(args.master_host, args.master_port)

    def on_plan(environment, msg, **_):
        plan = Plan.from_dict(msg.data)
        install(environment, Context(plan, plan.profile_model, Ledger()))

    def on_stop(environment, **_):
        # Once the users have stopped: the last statistics, then what the target
        # acknowledged (the master judges the merged ledgers).
        ledger = environment.interopgate.ledger if hasattr(environment, "interopgate") else Ledger()
        runner._send_stats()  # Locust sends them only every few seconds, and at quit
        runner.send_message(LEDGER_MESSAGE, ledger.to_dict())
        # One run per worker process: the master forgets stopped workers, so its quit
        # would never reach them; a worker ends itself once its report is out.
        gevent.spawn_later(1.0, runner.quit)

    runner.register_message(PLAN_MESSAGE, on_plan)
    environment.events.test_stop.add_listener(on_stop)
    print(
        f"interopgate load worker: connected to {args.master_host}:{args.master_port}", flush=True
    )
    runner.greenlet.join()
    return 0


def _drive(args, profile: Profile, plan: Plan, ledger: Ledger) -> tuple[Environment, float]:
    """Run the users for ``plan.duration``; returns the environment (its stats) and the
    seconds of traffic. In master mode the workers' ledgers are merged into ``ledger``."""
    environment = _environment()
    OrderPlacer.fixed_count = profile.load.senders if plan.hl7_address else 0
    if args.master:
        runner = environment.create_master_runner(args.master_bind_host, args.master_port)
        returned: list[int] = []

        def on_ledger(environment, msg, **_):
            ledger.merge(Ledger.from_dict(msg.data))
            returned.append(1)

        runner.register_message(LEDGER_MESSAGE, on_ledger)
        waited = time.monotonic()
        while len(runner.clients.ready) < args.expect_workers:
            if time.monotonic() - waited > args.worker_wait:
                runner.quit()
                raise InteropGateError(
                    f"{len(runner.clients.ready)} of {args.expect_workers} worker(s) connected "
                    f"to port {args.master_port} within {args.worker_wait:g} s"
                )
            gevent.sleep(0.2)
        runner.send_message(PLAN_MESSAGE, plan.to_dict())
        gevent.sleep(0.5)
    else:
        runner = environment.create_local_runner()
        install(environment, Context(plan, profile, ledger))
    started = time.monotonic()
    runner.start(plan.users, spawn_rate=plan.spawn_rate)
    gevent.sleep(plan.duration)
    seconds = time.monotonic() - started
    runner.stop()
    if args.master:
        deadline = time.monotonic() + STOP_TIMEOUT_S + 10
        while len(returned) < args.expect_workers and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if len(returned) < args.expect_workers:
            raise InteropGateError(
                f"{len(returned)} of {args.expect_workers} worker(s) reported what the target "
                "acknowledged: the loss checks would be incomplete"
            )
    runner.quit()
    if args.master:
        gevent.sleep(0.5)  # the quit message on its way to the workers
    return environment, seconds


def _judge(args, profile: Profile, plan: Plan, endpoint, description: str) -> int:
    ledger = Ledger()
    started = time.monotonic()
    environment, seconds = _drive(args, profile, plan, ledger)
    stats = _stats(environment, seconds)
    print(verdict.table(stats, seconds), flush=True)
    device = Context(plan, profile, ledger).device()
    cases = verdict.thresholds(stats, profile.load)
    deadline = profile.hl7.worklist_deadline
    cases.append(
        verdict.loss(
            "load.loss.orders", "acknowledged orders", verify.orders(device, ledger, deadline)
        )
    )
    study_find = profile.target_provides("StudyRootQueryRetrieveInformationModelFind")
    cases.append(
        verdict.loss(
            "load.loss.instances", "stored instances", verify.instances(device, ledger, study_find)
        )
    )
    outcome = None if args.no_limit_check else limit.check(profile, endpoint, QuietTranscript())
    skipped = "--no-limit-check" if args.no_limit_check else ""
    cases.append(verdict.association_limit(outcome, skipped))
    for case in cases:
        print(
            f"{case.outcome.upper():8} {case.name}: {case.observed.splitlines()[0] if case.observed else ''}"
        )
        for line in case.observed.splitlines()[1:]:
            print(f"         {line}")
    path = verdict.junit(
        cases,
        Path(args.junit),
        profile=profile.name,
        target=description,
        seconds=time.monotonic() - started,
    )
    failed = [c for c in cases if c.outcome == "failed"]
    print(
        f"verdict: {'FAIL' if failed else 'PASS'} ({len(failed)} of {len(cases)} failed"
        f"{': ' + ', '.join(c.name for c in failed) if failed else ''}); JUnit: {path}",
        flush=True,
    )
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="interopgate load")
    add_arguments(parser)
    args = parser.parse_args(argv)
    problem = check(args)
    try:
        if problem:
            raise InteropGateError(problem)
        setup_logging("WARNING")
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # refusals are results here
        if args.worker:
            return _worker(args)
        profile = _profile(args)
        with target_of(profile) as (endpoint, hl7_address, description):
            load = profile.load
            print(
                f"interopgate load: {profile.name} against {description}; {load.users} users "
                f"({load.senders} order placer(s)), {load.duration:g} s"
                + (f", master of {args.expect_workers} worker(s)" if args.master else ""),
                flush=True,
            )
            plan = Plan(
                profile.model_dump(mode="json", exclude_unset=True),
                {
                    f: getattr(endpoint, f)
                    for f in ("host", "port", "called_ae", "connect_timeout", "dimse_timeout")
                },
                hl7_address,
                load.users,
                load.spawn_rate,
                load.duration,
                secrets.token_hex(2)[:3].upper(),
            )
            return _judge(args, profile, plan, endpoint, description)
    except InteropGateError as exc:
        print(f"interopgate load: error: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.stdout.flush()
