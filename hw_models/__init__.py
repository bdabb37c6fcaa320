"""Hardware profiles and the precision-aware cost model (no model or quantizer code)."""
