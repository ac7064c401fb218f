"""HL7 v2: ER7 locations and splitting, MLLP framing (client and listener), the TS/DTM
grammar, messages and ACKs, the HL7 → worklist mapping."""
