"""Fixtures of the fault tests: free TCP ports for services that run as separate processes."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest


@pytest.fixture
def free_ports() -> Callable[[int], list[int]]:
    def take(count: int) -> list[int]:
        sockets = [socket.socket() for _ in range(count)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return [sock.getsockname()[1] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()

    return take
