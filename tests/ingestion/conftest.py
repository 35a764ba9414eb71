"""Fixtures of the ingestion tests (defined in ingestion_stack.py, which tests also import helpers from)."""

from ingestion_stack import stack  # noqa: F401  (a fixture: pytest finds it by name here)
