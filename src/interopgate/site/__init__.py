"""The embedded reference site: PACS + worklist SCP, its HL7 interface, and the fault catalogue."""
