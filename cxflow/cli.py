"""The `cxflow` command line: start the local stack and work with what it holds, over the services' gRPC APIs."""

from __future__ import annotations

import typer

from cxflow.commands import (
    captures,
    channels,
    contacts,
    directories,
    orgs,
    runs,
    segments,
    sources,
    surveys,
    tickets,
    tokens,
    workflows,
)

app = typer.Typer(help="cxflow: customer-experience automation on Temporal.", no_args_is_help=True)
app.add_typer(orgs.app, name="orgs")
app.add_typer(tokens.app, name="tokens")
app.add_typer(workflows.app, name="workflows")
app.add_typer(runs.app, name="runs")
app.add_typer(tickets.app, name="tickets")
app.add_typer(channels.app, name="channels")
app.add_typer(surveys.app, name="surveys")
app.add_typer(directories.app, name="directories")
app.add_typer(contacts.app, name="contacts")
app.add_typer(segments.app, name="segments")
app.add_typer(sources.app, name="sources")
app.add_typer(sources.subscriptions_app, name="subscriptions")
app.add_typer(captures.app, name="capture")
# The issue and Qualtrics put capture and runs under the workflow ("Run test data", `cxflow workflows runs list`);
# both spellings work.
workflows.app.add_typer(captures.app, name="capture")
workflows.app.add_typer(runs.app, name="runs")


@app.command()
def up() -> None:
    """Start the whole local stack in the foreground (what `make up` runs)."""
    from cxflow.stack import main

    main()


if __name__ == "__main__":
    app()
