"""Operator tools: seed, writer, verify, inspect and bucket set-up."""
