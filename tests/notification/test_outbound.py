"""Outbound HTTP on its own: HTTPS to the checked address with the right SNI and certificate check, Retry-After, address rules."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from recording_http import RecordingHttpServer

from services.notification.outbound import (
    DestinationRefused,
    OutboundHttp,
    ProviderUnavailable,
    is_public,
    retry_after_seconds,
)

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def https_server(ca: trustme.CA, tmp_path: Path, name: str) -> RecordingHttpServer:
    pem = tmp_path / f"{name}.pem"
    ca.issue_cert(name).private_key_and_cert_chain_pem.write_to_path(str(pem))
    server = RecordingHttpServer(certfile=str(pem), url_host="localhost")
    await server.start()
    return server


async def test_https_goes_to_the_checked_address_with_the_host_name_for_sni_and_certificate(
    ca: trustme.CA, tmp_path: Path
) -> None:
    server = await https_server(ca, tmp_path, "localhost")
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    http = OutboundHttp(verify=client_context)
    try:
        response = await http.post(
            server.url + "/api/v2/tickets.json", content=b"{}", headers={"Content-Type": "application/json"},
            allow_list=LOOPBACK, timeout=5, destination="Zendesk",
        )
        second = await http.post(
            server.url + "/again", content=b"{}", headers={}, allow_list=LOOPBACK, timeout=5, destination="Zendesk"
        )
    finally:
        await http.aclose()
        await server.stop()
    assert (response.status_code, second.status_code) == (200, 200)
    assert [r.headers["host"] for r in server.requests] == [f"localhost:{server.port}"] * 2


async def test_a_certificate_for_another_name_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    server = await https_server(ca, tmp_path, "other.example")
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    http = OutboundHttp(verify=client_context)
    try:
        with pytest.raises(ProviderUnavailable):
            await http.post(server.url + "/x", content=b"", headers={}, allow_list=LOOPBACK, timeout=5, destination="X")
    finally:
        await http.aclose()
        await server.stop()
    assert server.requests == []


async def test_metadata_address_is_refused_even_when_other_addresses_are_allowed() -> None:
    http = OutboundHttp()
    try:
        with pytest.raises(DestinationRefused):
            await http.check_destination("http://169.254.169.254/latest/meta-data/", LOOPBACK)
        host, address = await http.check_destination("http://169.254.169.254/x", [ipaddress.ip_network("169.254.169.254/32")])
    finally:
        await http.aclose()
    assert (host, str(address)) == ("169.254.169.254", "169.254.169.254")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00:ec2::254", False),  # AWS IPv6 metadata
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
