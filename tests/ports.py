"""Free TCP ports for servers a test must name before they start, chosen where the kernel never hands out ports itself.

A port the kernel picked for `bind(("", 0))` comes from its ephemeral range, the same range it draws from for every
outgoing connection and every other port-0 server; released and bound again later, it can be taken meanwhile by
another test process (a failed CI run met exactly that). Ports below that range are never handed out by the kernel,
so a random one that binds now stays free unless another test picks the same number.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(count: int) -> list[int]:
    """count distinct ports on 127.0.0.1 that are free now, outside the kernel's ephemeral range."""
    highest = max(_ephemeral_start() - 1, _LOWEST + count)
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(_LOWEST, highest)
        if port in chosen:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


def free_port() -> int:
    return free_ports(1)[0]
