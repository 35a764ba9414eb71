"""What every `cxflow` command shares: credentials, one gRPC call with one-line actionable failures, paging, table or JSON output.

Exit codes: 0 done; 1 the server refused the call or cannot be reached (one line on stderr); 2 a usage error.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NoReturn, Protocol, TypeVar

import grpc
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxflow.v1 import common_pb2
from services.common.auth import internal_metadata
from services.common.settings import Settings

console = Console()
# Errors go to stderr on one line (soft wrap: rich never breaks them at the terminal width), so scripts can grep them.
error_console = Console(stderr=True, soft_wrap=True, highlight=False)
T = TypeVar("T")


class _Page(Protocol):
    """A reply of a List/Search RPC: one page of items and the token of the next page ("" on the last one)."""

    @property
    def next_page_token(self) -> str: ...


Page = TypeVar("Page", bound=_Page)

# Which service listens where, and the variable that moves it: named in "cannot reach" errors.
_SERVICES = (
    ("directory", "directory_grpc_target", "DIRECTORY_GRPC_TARGET"),
    ("ingestion", "ingestion_grpc_target", "INGESTION_GRPC_TARGET"),
    ("notification", "notification_grpc_target", "NOTIFICATION_GRPC_TARGET"),
)
# What to do when a service refuses the credentials of an ordinary (API-token) call.
API_TOKEN_HINT = "check CXFLOW_API_TOKEN, or create one with `cxflow tokens create`"
# What grpc says when nothing answers at the address (as opposed to a service answering UNAVAILABLE itself).
_UNREACHABLE_MARKERS = ("failed to connect", "connection refused", "dns resolution failed", "connect failed", "socket closed")


def usage_error(message: str) -> NoReturn:
    """A mistake in how the command was called: one line on stderr, exit code 2 (as typer's own usage errors)."""
    error_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


def refused(message: str) -> NoReturn:
    """The server said no (not found, invalid, not allowed) or cannot be reached: one line on stderr, exit code 1."""
    error_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def api_token() -> str:
    token = os.environ.get("CXFLOW_API_TOKEN", "")
    if not token:
        usage_error("set CXFLOW_API_TOKEN to an API token of your organization (after `make up`: source .data/demo.env)")
    return token


def internal_token(settings: Settings) -> str:
    """The service-to-service token that admin commands (orgs, tokens) authenticate with."""
    try:
        return settings.resolved_internal_token()
    except RuntimeError as exc:
        usage_error(f"{exc} (admin commands authenticate with the internal token)")


def call(
    target: str,
    rpc: Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[T]],
    *,
    metadata: tuple[tuple[str, str], ...] | None = None,
    credentials_hint: str = API_TOKEN_HINT,
) -> T:
    """Runs one gRPC call (with the caller's API token unless metadata is given) and turns failures into exit code 1."""
    md = metadata if metadata is not None else (("authorization", f"Bearer {api_token()}"),)

    async def go() -> T:
        async with grpc.aio.insecure_channel(target) as channel:
            return await rpc(channel, md)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as exc:
        refused(describe_rpc_error(target, exc, credentials_hint))


def admin_call(
    target: str, rpc: Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[T]], organization_id: str = ""
) -> T:
    """call() as a cxflow service (the internal token), optionally on behalf of one organization."""
    return call(
        target,
        rpc,
        metadata=internal_metadata(internal_token(Settings.from_env()), organization_id or None),
        credentials_hint="admin commands need the services' CXFLOW_INTERNAL_TOKEN (or the data folder's internal.token)",
    )


def all_pages(
    fetch: Callable[[common_pb2.PageRequest], Page],
    items: Callable[[Page], Iterable[T]],
    *,
    limit: int | None = None,
    page_size: int | None = 1000,
) -> list[T]:
    """Every item of a paged List/Search call, page after page (at most limit): fetch gets each page's PageRequest.

    page_size=None leaves the page size to the service's default; under a limit, no page asks for more than is still wanted.
    """
    found: list[T] = []
    page_token = ""
    while limit is None or len(found) < limit:
        size = page_size
        if limit is not None:
            size = limit - len(found) if size is None else min(size, limit - len(found))
        reply = fetch(common_pb2.PageRequest(page_size=size, page_token=page_token))
        found.extend(items(reply))
        page_token = reply.next_page_token
        if not page_token:
            break
    return found if limit is None else found[:limit]


def describe_rpc_error(
    target: str,
    exc: grpc.aio.AioRpcError,
    credentials_hint: str = API_TOKEN_HINT,
) -> str:
    """One line a shell user can act on: what failed, where, and what to do about it."""
    service, variable = _service_at(target)
    details = " ".join((exc.details() or "").split())
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE and any(marker in details.lower() for marker in _UNREACHABLE_MARKERS):
        return f"cannot reach {service} at {target}: is `make up` running? (or set {variable})"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"{service} refused the credentials: {details} ({credentials_hint})"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"{service} refused the call: {details}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{service} at {target} did not answer in time: {details}"
    return f"{code.name}: {details}"


def _service_at(target: str) -> tuple[str, str]:
    settings = Settings.from_env()
    for name, attribute, variable in _SERVICES:
        if getattr(settings, attribute) == target:
            return name, variable
    return "the service", "the *_GRPC_TARGET variables"


# The --json flag of the commands that print records.
JSON_OPTION = typer.Option(False, "--json", help="print JSON for scripts")


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def print_rows(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], as_json: bool) -> None:
    """Prints rows as JSON (for scripts) or as a rich table with the given (key, heading) columns."""
    if as_json:
        print_json(rows)
        return
    table = Table(*[heading for _, heading in columns])
    for row in rows:
        table.add_row(*[_cell(row.get(key)) for key, _ in columns])
    console.print(table)


def print_fields(document: dict[str, Any], as_json: bool) -> None:
    """One record: JSON for scripts, or a two-column rich table of its fields (nested values as compact JSON)."""
    if as_json:
        print_json(document)
        return
    table = Table("field", "value", show_header=False)
    for key, value in document.items():
        table.add_row(key, _cell(value))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str) if value else ""
    return "" if value is None else str(value)
