"""The `cxflow` command groups, one module per noun (workflows, runs, tickets, ...), each a typer app."""
