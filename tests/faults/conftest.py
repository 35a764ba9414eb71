"""Fixtures of the fault tests: free TCP ports for services that run as separate processes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import ports


@pytest.fixture
def free_ports() -> Callable[[int], list[int]]:
    return ports.free_ports
