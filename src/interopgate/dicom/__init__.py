"""DICOM as the device plays it: associations, C-FIND identifiers and response streams, UID names."""
