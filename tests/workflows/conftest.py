"""Fixtures the workflow tests share: the real directory + notification stack (defined beside its first tests)."""

from test_activities_real_services import stack  # noqa: F401  (a fixture: pytest finds it by name here)
