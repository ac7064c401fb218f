"""InteropGate: a conformance harness for DICOM and HL7 v2 interfaces."""

__version__ = "0.1.0"
