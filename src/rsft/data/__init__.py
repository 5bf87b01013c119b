"""SFT data: the row schema, readers and writers with clear errors, variants, verification and statistics."""
