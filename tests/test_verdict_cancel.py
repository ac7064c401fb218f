"""The C-CANCEL verdict (matching_cases.judge_cancel) on synthetic timings: matches in
flight within max(3 x round trip, 20 ms) are not disobedience; provable sends past that
window, or an end without FE00H, fail; a stream the SCP had sent before it could see the
cancel is inconclusive, never failed (PS3.7 9.3.2.3)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from interopgate.dicom.cancel import CancelRun, StreamSample, TimedResponse
from interopgate.dicom.query import MODELS
from interopgate.matching_cases import LATE_ALLOWANCE, in_flight_window, judge_cancel

SIZE = 100  # bytes per response
PENDING, SUCCESS, CANCEL = 0xFF00, 0x0000, 0xFE00


def run_of(
    arrivals: list[float],
    final: int | None,
    *,
    cancel: float | None = 1.0,
    rtt: float = 0.002,
    backlog: bool = False,
) -> CancelRun:
    """A run whose pending responses arrive at ``arrivals`` (seconds), read as they come
    (or, with ``backlog``, all already waiting in the kernel at the first read)."""
    run = CancelRun(MODELS["study"], Dataset(), round_trips=[rtt] * 5, receive_buffer=1 << 23)
    run.cancel_sent = cancel
    times = [*arrivals, *([arrivals[-1] + 0.0005] if final is not None else [])]
    statuses = [PENDING] * len(arrivals) + ([final] if final is not None else [])
    total = len(times) * SIZE
    for index, (when, status) in enumerate(zip(times, statuses, strict=True)):
        end = (index + 1) * SIZE
        if backlog:
            run.samples.append(StreamSample(times[0], index * SIZE, total - index * SIZE))
        else:
            run.samples.append(StreamSample(when, index * SIZE, 0))
        run.responses.append(TimedResponse(status, end, when))
    return run


def test_window_is_three_round_trips_with_a_floor():
    assert in_flight_window(0.002) == pytest.approx(0.020)
    assert in_flight_window(0.050) == pytest.approx(0.150)
    assert in_flight_window(None) == pytest.approx(0.020)


def test_ten_matches_within_3_ms_then_0000_is_in_flight_not_a_failure():
    """The flip the issue saw: all 10 within 3 ms of the cancel, then 0000H."""
    run = run_of([1.0 + 0.0003 * i for i in range(10)], SUCCESS)
    verdict = judge_cancel(run, 10)
    assert verdict.outcome == "inconclusive", verdict.reason
    assert verdict.in_flight == 10 and verdict.late == 0
    assert "window 20 ms" in verdict.reason


def test_stream_that_goes_on_past_the_window_and_ends_0000_fails():
    run = run_of([1.0 + 0.002 * i for i in range(200)], SUCCESS)  # 400 ms after the cancel
    verdict = judge_cancel(run, 200)
    assert verdict.outcome == "failed"
    assert verdict.late > LATE_ALLOWANCE
    assert "provably sent later" in verdict.reason and "final 0000H" in verdict.reason


def test_fe00_after_in_flight_matches_passes():
    run = run_of([0.999, 1.0005, 1.004, 1.010], CANCEL)
    verdict = judge_cancel(run, 400)
    assert verdict.outcome == "passed", verdict.reason
    assert verdict.final == "FE00H"


def test_fe00_after_a_stream_well_past_the_window_fails():
    run = run_of([1.0 + 0.005 * i for i in range(40)], CANCEL)  # 200 ms more
    assert judge_cancel(run, 400).outcome == "failed"


def test_the_allowance_tolerates_the_response_being_written():
    arrivals = [1.001, 1.002] + [1.030 + 0.001 * i for i in range(LATE_ALLOWANCE)]
    assert judge_cancel(run_of(arrivals, CANCEL), 400).outcome == "passed"
    arrivals.append(1.040)
    assert judge_cancel(run_of(arrivals, SUCCESS), 400).outcome == "failed"


def test_a_backlog_on_our_side_is_not_taken_for_late_sends():
    """Decoded late, but all bytes waited in the kernel from the first read on: the SCP
    had sent them, however slowly the harness read them."""
    run = run_of([1.0 + 0.003 * i for i in range(100)], SUCCESS, backlog=True)
    verdict = judge_cancel(run, 100)
    assert verdict.outcome == "inconclusive", verdict.reason
    assert verdict.late == 0


def test_a_full_receive_queue_makes_late_arrivals_unprovable():
    run = run_of([1.0 + 0.002 * i for i in range(200)], SUCCESS)
    run.samples[5] = StreamSample(run.samples[5].time, run.samples[5].read, run.receive_buffer)
    verdict = judge_cancel(run, 200)
    assert verdict.outcome == "inconclusive"
    assert "flow control" in verdict.reason


def test_no_final_response_fails():
    assert judge_cancel(run_of([1.0, 1.001], None), 400).outcome == "failed"


def test_other_final_status_fails():
    assert judge_cancel(run_of([1.0, 1.001], 0xC000), 400).outcome == "failed"


def test_stream_over_before_the_cancel_went_out_is_inconclusive():
    verdict = judge_cancel(run_of([0.5, 0.6], SUCCESS, cancel=None), 400)
    assert verdict.outcome == "inconclusive"
    assert "before the C-CANCEL went out" in verdict.reason


def test_matches_that_arrived_before_the_cancel_left_are_counted_apart():
    """Provably there before the cancel left: a later read found it complete (the first
    match; the second is complete only at the read after the cancel)."""
    run = run_of([0.990, 0.995, 1.001], CANCEL)
    verdict = judge_cancel(run, 400)
    assert verdict.outcome == "passed"
    assert "1 match(es) had arrived before it left, 2 arrived within the window" in verdict.reason


def test_a_late_stop_that_ends_fe00_is_repeated_and_a_late_0000_is_not():
    late = [1.0 + 0.005 * i for i in range(40)]
    assert judge_cancel(run_of(late, CANCEL), 400).worth_repeating
    assert not judge_cancel(run_of(late, SUCCESS), 400).worth_repeating
    assert not judge_cancel(run_of([0.999, 1.0005], CANCEL), 400).worth_repeating
