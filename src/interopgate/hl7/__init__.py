"""HL7 v2: MLLP framing (client and listener), the TS/DTM grammar, ACK helpers."""
