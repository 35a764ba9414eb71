"""What every `cxflow` command shares: the caller's API token, one gRPC call with readable failures, table or JSON output."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import typer
from rich.console import Console
from rich.table import Table

console = Console()
T = TypeVar("T")


def api_token() -> str:
    token = os.environ.get("CXFLOW_API_TOKEN", "")
    if not token:
        console.print("[red]set CXFLOW_API_TOKEN[/red] (after `make up`: source .data/demo.env)")
        raise typer.Exit(2)
    return token


def call(target: str, rpc: Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[T]]) -> T:
    """Runs one gRPC call with the caller's API token and turns failures into a readable exit (code 1)."""
    metadata = (("authorization", f"Bearer {api_token()}"),)

    async def go() -> T:
        async with grpc.aio.insecure_channel(target) as channel:
            return await rpc(channel, metadata)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as exc:
        console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
        raise typer.Exit(1) from None


def print_rows(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], as_json: bool) -> None:
    """Prints rows as JSON (for scripts) or as a rich table with the given (key, heading) columns."""
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(*[heading for _, heading in columns])
    for row in rows:
        table.add_row(*[_cell(row.get(key)) for key, _ in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)
