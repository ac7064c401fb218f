"""The device as the system under test: the harness plays the site a modality is
configured against (MWL, MPPS, Storage, Storage Commitment and Verification SCP), records
what the device sends, and judges the recording with the ``device.*`` checks.

- ``faults``: the stand-in modality's catalogue of wrong behaviours (the device-side
  analogue of site/faults.py)
- ``session``: what was recorded (associations, DIMSE messages, their data sets), saved
  to and loaded from a folder
- ``worklist``: the items served: generated (Faker), and the hard cases
- ``recorder``: pynetdicom event handlers that fill a session
- ``scp``: the emulated site itself (``EmulatedSite``)
- ``evaluate``: the device checks, as functions of a session and the profile
"""
