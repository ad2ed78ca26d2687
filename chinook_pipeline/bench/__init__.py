"""The benchmark on the embedded stack."""
