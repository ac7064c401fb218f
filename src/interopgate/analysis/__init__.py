"""Passive analysis of a site's own packet captures (``interopgate analyze``).

- ``reassembly``: pcap/pcapng files (one or a rotated series) → TCP streams, each byte
  with the frame and time it arrived in
- ``dicom``: DICOM upper layer PDUs, DIMSE messages and their data sets on a stream
- ``hl7``: MLLP frames, HL7 v2 messages and their ACKs
- ``findings``: what is reported: associations, C-FINDs, HL7 exchanges, resends, the
  patient/accession chain across both protocols
- ``report``: the console summary and the JUnit XML
"""
