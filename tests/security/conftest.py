"""Fixtures of the security tests (defined in two_organizations.py, which tests also import helpers from)."""

from two_organizations import two_organizations  # noqa: F401  (a fixture: pytest finds it by name here)
