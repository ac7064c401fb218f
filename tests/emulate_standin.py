"""A scripted stand-in modality for the emulated site's self-tests.

No real modality is here, so the device side is played by DCMTK's ``findscu -W`` (the
worklist query, built from the profile's worklist.query and required_return_keys) and
``storescu`` (an image made for the first served item, fixtures/dicom_objects.py), and
by the harness's own DeviceClient for MPPS (RAD-6/7) and Storage Commitment (RAD-10).
Each wrong behaviour of interopgate.emulate.faults.DEVICE_FAULTS has its branch here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import threading
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom import sop_class as sop
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode

from fixtures.dicom_objects import image_for_item
from interopgate import mpps
from interopgate.commitment import action_information, report_answered
from interopgate.device import DeviceClient
from interopgate.dicom.association import Endpoint
from interopgate.dicom.listener import DeviceListener
from interopgate.emulate.evaluate import expected_query
from interopgate.emulate.faults import DEVICE_FAULTS
from interopgate.evidence import Transcript
from interopgate.profile import Profile

# DCMTK's tools, not pynetdicom's apps of the same names that a venv puts first on PATH.
DCMTK_BIN = Path("/usr/bin")
REPORT_WAIT = 2.0  # seconds a device waits for the storage commitment report
CR = str(sop.ComputedRadiographyImageStorage)
DX = str(sop.DigitalXRayImageStorageForPresentation)


def findscu_keys(query: Dataset) -> list[str]:
    """``-k`` arguments for findscu: ``Keyword=value``, ``Seq[0].Keyword=value``."""
    keys = []
    for element in query:
        if element.VR == "SQ":
            items = list(element.value or [])
            if not items:
                keys += ["-k", f"{element.keyword}"]
            for inner in items[0] if items else []:
                value = "" if inner.value is None else str(inner.value)
                keys += ["-k", f"{element.keyword}[0].{inner.keyword}={value}"]
        else:
            value = "" if element.value is None else str(element.value)
            keys += ["-k", f"{element.keyword}={value}"]
    return keys


class StandIn:
    """The modality of ``profile`` pointed at the emulated site on ``address``."""

    def __init__(self, profile: Profile, address: tuple[str, int], work: Path, faults=()):
        unknown = set(faults) - set(DEVICE_FAULTS)
        if unknown:
            raise ValueError(f"unknown device fault(s) {sorted(unknown)}")
        self.profile = profile
        self.host, self.port = address
        self.work = work
        self.faults = set(faults)
        self.called = profile.emulate.ae_title
        self.ae = profile.device.ae_title
        self.endpoint = Endpoint(self.host, self.port, self.called)
        self.transcript = Transcript("stand-in modality")
        work.mkdir(parents=True, exist_ok=True)

    def run(self, served: list[Dataset]) -> None:
        self.query()
        if "cancel-unknown-message-id" in self.faults:
            self.cancel_unknown()
        else:
            self.query(cancel_after=5)  # the user stops a long list: C-CANCEL (PS3.7 9.3.2.3)
        with self.polling():
            item = next(i for i in served if i.get("ScheduledProcedureStepSequence"))
            image = self.image(item)
            self.mpps_and_store(item, image)
            self.commit([image])

    @contextlib.contextmanager
    def polling(self) -> Iterator[None]:
        """With a polling interval in the profile, a modality's worklist timer: a query
        every three quarters of an interval on a thread of its own, beside the acquisition
        and for three rounds after it (stops-querying: silent as long). The rounds keep
        their own clock, so a slow query or a busy machine does not push the next one
        late; a poll that came after the acquisition, as before, waited out all of it."""
        interval = self.profile.emulate.query_interval
        if interval is None:
            yield
            return
        period = 0.75 * interval
        done = threading.Event()

        def timer() -> None:
            due = time.monotonic()
            rounds_after = 0
            while rounds_after < 3:
                due += period
                time.sleep(max(0.0, due - time.monotonic()))
                rounds_after += done.is_set()
                if "stops-querying" not in self.faults:
                    self.query()

        thread = threading.Thread(target=timer, name="stand-in worklist timer", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # ------------------------------------------------------------------ RAD-5
    def query(self, cancel_after: int = 0) -> subprocess.CompletedProcess:
        query = expected_query(self.profile, dt.date.today())
        if "no-station-ae-return-key" in self.faults:
            del query.ScheduledProcedureStepSequence[0].ScheduledStationAETitle
        keys = findscu_keys(query)
        if "extra-matching-key" in self.faults:
            keys += ["-k", "PatientName=A*"]
        if "two-sps-items-in-query" in self.faults:
            keys += ["-k", "ScheduledProcedureStepSequence[1].Modality="]
        calling = "OTHER_AE" if "wrong-calling-ae" in self.faults else self.ae
        command = [
            str(DCMTK_BIN / "findscu"),
            "-W",
            "-aet",
            calling,
            "-aec",
            self.called,
            "-to",
            "10",
        ]
        command += ["-xb" if "big-endian-proposed" in self.faults else "-xi"]
        if "other-max-pdu" in self.faults:
            command += ["-pdu", "32768"]
        if "query-loop" in self.faults and not cancel_after:
            command += ["--repeat", "3"]
        if cancel_after:
            command += ["--cancel", str(cancel_after)]
        if "abort-after-worklist" in self.faults:
            command += ["--abort"]
        command += [*keys, self.host, str(self.port)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def cancel_unknown(self) -> None:
        """A worklist query through pynetdicom whose C-CANCEL names Message ID 99."""
        ae = AE(ae_title=self.ae)
        ae.maximum_pdu_size = self.profile.dicom.max_pdu
        ae.add_requested_context(sop.ModalityWorklistInformationFind, [ImplicitVRLittleEndian])
        assoc = ae.associate(
            self.host, self.port, ae_title=self.called, max_pdu=self.profile.dicom.max_pdu
        )
        try:
            query = expected_query(self.profile, dt.date.today())
            responses = assoc.send_c_find(query, sop.ModalityWorklistInformationFind, msg_id=1)
            for index, _ in enumerate(responses):
                if index == 2:
                    context = assoc.accepted_contexts[0].context_id
                    assoc.send_c_cancel(99, context)
        finally:
            assoc.release()

    # ------------------------------------------------------------------ RAD-8
    def image(self, item: Dataset) -> Dataset:
        image = image_for_item(CR, item, pps_id="PPS1")
        if "image-without-accession" in self.faults:
            image.AccessionNumber = ""  # Type 2: zero length is IOD-valid, RAD-8 is not
        if "image-without-modality" in self.faults:
            del image.Modality
        return image

    def store(self, image: Dataset) -> subprocess.CompletedProcess:
        path = self.work / f"{image.SOPInstanceUID}.dcm"
        image.save_as(path, enforce_file_format=True)
        command = [
            str(DCMTK_BIN / "storescu"),
            "-aet",
            self.ae,
            "-aec",
            self.called,
            "-to",
            "10",
            "-xi",
        ]
        if "undeclared-context" not in self.faults:
            command.append("-R")  # propose only the contexts the file needs
        command += [self.host, str(self.port), str(path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def store_on_rejected_context(self, image: Dataset) -> None:
        """A C-STORE-RQ on the context the site rejected (DX for presentation), sent
        through pynetdicom's DIMSE layer because no well-behaved SCU would send it."""
        ae = AE(ae_title=self.ae)
        ae.maximum_pdu_size = self.profile.dicom.max_pdu
        ae.add_requested_context(CR, [ImplicitVRLittleEndian])
        ae.add_requested_context(DX, [ImplicitVRLittleEndian])
        assoc = ae.associate(
            self.host, self.port, ae_title=self.called, max_pdu=self.profile.dicom.max_pdu
        )
        try:
            rejected = next(cx for cx in assoc.rejected_contexts if cx.abstract_syntax == DX)
            request = C_STORE()
            request.MessageID = 7
            request.AffectedSOPClassUID = DX
            request.AffectedSOPInstanceUID = generate_uid()
            request.Priority = 2
            request.DataSet = BytesIO(encode(image, True, True))
            assoc.dimse.send_msg(request, rejected.context_id)
            time.sleep(0.5)  # the site aborts
        finally:
            if assoc.is_established:
                assoc.abort()

    # ------------------------------------------------------------------ RAD-6/7
    def mpps_and_store(self, item: Dataset, image: Dataset) -> None:
        device = DeviceClient(self.profile, self.endpoint, self.transcript)
        step = mpps.scheduled_step(item)
        if "mpps-without-sps-reference" in self.faults:
            step = mpps.unscheduled_step(str(item.StudyInstanceUID))
        create = mpps.in_progress(
            item,
            step,
            station_ae=self.ae,
            modality=self.profile.device.modality,
            pps_id="PPS1",
            when=dt.datetime.now(),
        )
        uid = generate_uid()
        with device.associate([str(sop.ModalityPerformedProcedureStep)]) as (assoc, _):
            assoc.send_n_create(create, sop.ModalityPerformedProcedureStep, uid)
        self.store(image)
        if "store-on-rejected-context" in self.faults:
            self.store_on_rejected_context(image)
        final = mpps.completed([image], when=dt.datetime.now())
        if "mpps-completed-without-series" in self.faults:
            del final.PerformedSeriesSequence
        with device.associate([str(sop.ModalityPerformedProcedureStep)]) as (assoc, _):
            assoc.send_n_set(final, sop.ModalityPerformedProcedureStep, uid)

    # ------------------------------------------------------------------ RAD-10
    def commit(self, images: list[Dataset]) -> None:
        settings = self.profile.emulate
        if settings.commitment_report == "new-association" and settings.device_port:
            # The report comes on an association the site opens to the device's SCP.
            with DeviceListener(self.ae, settings.device_host, settings.device_port) as listener:
                self._commit(images, same_association=False)
                listener.wait_for(lambda: listener.reports, REPORT_WAIT)
            return
        self._commit(images, same_association=True)

    def _commit(self, images: list[Dataset], *, same_association: bool) -> None:
        device = DeviceClient(self.profile, self.endpoint, self.transcript)
        instances = list(images)
        if "commit-unstored-instance" in self.faults:
            ghost = Dataset()
            ghost.SOPClassUID = CR
            ghost.SOPInstanceUID = generate_uid()
            instances.append(ghost)
        info = action_information(instances, generate_uid())
        with device.associate(
            [
                (
                    str(sop.StorageCommitmentPushModel),
                    [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
                )
            ]
        ) as (assoc, _):
            answered = report_answered(assoc)
            if "commitment-report-unanswered" not in self.faults:
                # Without a handler, pynetdicom answers 0110H (the fault).
                assoc.bind(evt.EVT_N_EVENT_REPORT, lambda event: (0x0000, None))
            assoc.send_n_action(info, 1, sop.StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1")
            # A device waits for the report on this association (a loaded machine can
            # take longer than the site's 50 ms), and for its answer to go out.
            answered.wait(REPORT_WAIT if same_association else 0.3)
