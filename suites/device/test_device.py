"""What the device sent the site it is configured against (the emulated site), check by
check: association (PS3.8), worklist query (PS3.4 K.6, RAD-5), behaviour on hard
worklists, MPPS (F.7, RAD-6/7), images (RAD-8, dciodvfy), commitment (J.3, RAD-10)."""

from __future__ import annotations

import pytest


@pytest.mark.check("device.association.contexts")
def test_contexts(device_verdict):
    device_verdict()


@pytest.mark.check("device.association.transfer_syntaxes")
def test_transfer_syntaxes(device_verdict):
    device_verdict()


@pytest.mark.check("device.association.ae_title")
def test_ae_title(device_verdict):
    device_verdict()


@pytest.mark.check("device.association.max_pdu")
def test_max_pdu(device_verdict):
    device_verdict()


@pytest.mark.check("device.association.rejected_context")
def test_rejected_context(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.matching_keys")
def test_mwl_matching_keys(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.return_keys")
def test_mwl_return_keys(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.encoding")
def test_mwl_encoding(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.cancel")
def test_mwl_cancel(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.query_loop")
def test_mwl_query_loop(device_verdict):
    device_verdict()


@pytest.mark.check("device.mwl.query_schedule")
def test_mwl_query_schedule(device_verdict):
    device_verdict()


@pytest.mark.check("device.behaviour.release")
def test_release_after_hard_worklist(device_verdict):
    device_verdict()


@pytest.mark.check("device.mpps.create_in_progress")
def test_mpps_create_in_progress(device_verdict):
    device_verdict()


@pytest.mark.check("device.mpps.set_final")
def test_mpps_set_final(device_verdict):
    device_verdict()


@pytest.mark.check("device.storage.iod")
def test_storage_iod(device_verdict):
    device_verdict()


@pytest.mark.check("device.storage.worklist_attributes")
def test_storage_worklist_attributes(device_verdict):
    device_verdict()


@pytest.mark.check("device.commitment.request")
def test_commitment_request(device_verdict):
    device_verdict()


@pytest.mark.check("device.commitment.report_accepted")
def test_commitment_report_accepted(device_verdict):
    device_verdict()
