"""dicom/tuning.py: pynetdicom's idle waits, replaced where pynetdicom sleeps.

The replacements hook two places in pynetdicom's source (the DUL reactor's
``time.sleep(self._run_loop_delay)`` and the association reactor's ``time.sleep(0.001)``);
a pynetdicom that moves them would leave the harness on its own 1 ms polling, so the
places are checked here, and the waits end on what they must end on."""

from __future__ import annotations

import inspect
import threading
import time

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.sop_class import Verification

from interopgate.dicom import tuning


def test_the_hooked_sleeps_are_where_pynetdicom_sleeps():
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(DULServiceProvider.run_reactor)
    assert "time.sleep(0.001)" in inspect.getsource(Association._run_reactor)
    assert isinstance(DULServiceProvider.__dict__["_run_loop_delay"], property)


def _echo_pair():
    scp = AE(ae_title="SCP")
    scp.add_supported_context(Verification)
    server = tuning.start_server(scp, ("127.0.0.1", 0))
    ae = AE()
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.server_address[1])
    assert assoc.is_established
    return scp, assoc


def test_an_idle_association_answers_and_releases():
    """After the reactors have gone idle (longer than IDLE_PASS_S), requests are still
    served and answered, and the release completes: the waits end on a queued request,
    a caller's pause and a readable socket."""
    scp, assoc = _echo_pair()
    try:
        for _ in range(3):
            time.sleep(tuning.IDLE_PASS_S * 3)
            assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        assert assoc.is_released
    finally:
        scp.shutdown()


def test_the_delay_is_pynetdicoms_off_the_reactor_thread():
    """stop_dul() sleeps the delay from another thread: it gets the plain value."""
    scp, assoc = _echo_pair()
    try:
        assert threading.current_thread() is not assoc.dul
        assert assoc.dul._run_loop_delay == tuning.IDLE_SLICE_S
        assoc.dul._run_loop_delay = 0.002
        assert assoc.dul._run_loop_delay == 0.002
    finally:
        assoc.release()
        scp.shutdown()
