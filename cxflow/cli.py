"""The `cxflow` command line: start the local stack and work with what it holds, over the services' gRPC APIs."""

from __future__ import annotations

import typer

from cxflow.commands import tickets, workflows

app = typer.Typer(help="cxflow: customer-experience automation on Temporal.", no_args_is_help=True)
app.add_typer(workflows.app, name="workflows")
app.add_typer(tickets.app, name="tickets")


@app.command()
def up() -> None:
    """Start the whole local stack in the foreground (what `make up` runs)."""
    from cxflow.stack import main

    main()


if __name__ == "__main__":
    app()
