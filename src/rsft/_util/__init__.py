"""Private helpers shared by every stage (errors, hashing, provenance, seeding)."""
