"""`cxflow segments ...`: apply a segment from a YAML file, list segments, list members, explain a membership."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from google.protobuf import json_format, struct_pb2

from cxflow.commands.directories import DIRECTORY_OPTION_HELP, resolve_directory
from cxflow.commands.support import JSON_OPTION, all_pages, call, console, print_rows, usage_error
from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Rule-based segments of a directory.", no_args_is_help=True)

EXAMPLE = """\
# seg.yaml
name: Frequent support callers
description: 5 support calls in 30 days
directory: POOL_…        # optional: else --directory, else the default directory
rule:
  transactions:
    aggregate: count
    where: [{field: type, op: eq, value: support_call}]
    lastDays: 30
    op: gte
    value: 5
"""


def _stub(channel):  # type: ignore[no-untyped-def]
    return directory_pb2_grpc.DirectoryServiceStub(channel)


def _segment_row(segment: directory_pb2.Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "members": segment.member_count,
        "description": segment.description,
        "rule": json_format.MessageToDict(segment.rule),
        "updatedAt": segment.updated_at.ToJsonString(),
    }


def _all_segments(settings: Settings, directory_id: str) -> list[directory_pb2.Segment]:
    return all_pages(
        lambda page: call(
            settings.directory_grpc_target,
            lambda channel, md: _stub(channel).ListSegments(
                directory_pb2.ListSegmentsRequest(directory_id=directory_id, page=page), metadata=md
            ),
        ),
        lambda reply: reply.segments,
    )


def _read_definition(path: Path) -> dict[str, Any]:
    try:
        definition = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        usage_error(f"cannot read {path}: {exc}")
    if (
        not isinstance(definition, dict)
        or not isinstance(definition.get("name"), str)
        or not isinstance(definition.get("rule"), dict)
    ):
        usage_error(f"{path} needs at least name and rule\n{EXAMPLE}")
    unknown = sorted(set(definition) - {"name", "description", "directory", "id", "rule"})
    if unknown:
        usage_error(f"{path}: unknown key {unknown[0]!r} (keys: name, description, directory, id, rule)")
    return definition


@app.command("apply")
def segments_apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="the segment's YAML definition (name, description, rule)")],
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create the segment, or update the one with the same id (or name) in the directory. Members follow at once."""
    settings = Settings.from_env()
    definition = _read_definition(file)
    directory_id = resolve_directory(settings, directory or definition.get("directory"))
    rule = struct_pb2.Struct()
    rule.update(definition["rule"])
    segment_id = definition.get("id") or next(
        (segment.id for segment in _all_segments(settings, directory_id) if segment.name == definition["name"]), ""
    )
    existing = segment_id and any(segment.id == segment_id for segment in _all_segments(settings, directory_id))
    if existing:
        segment = call(
            settings.directory_grpc_target,
            lambda channel, md: _stub(channel).UpdateSegment(
                directory_pb2.UpdateSegmentRequest(
                    directory_id=directory_id, segment_id=segment_id, name=definition["name"],
                    description=definition.get("description", ""), rule=rule,
                ),
                metadata=md,
            ),
        )  # fmt: skip
        verb = "updated"
    else:
        segment = call(
            settings.directory_grpc_target,
            lambda channel, md: _stub(channel).CreateSegment(
                directory_pb2.CreateSegmentRequest(
                    directory_id=directory_id, name=definition["name"], description=definition.get("description", ""),
                    rule=rule, id=segment_id,
                ),
                metadata=md,
            ),
        )  # fmt: skip
        verb = "created"
    if as_json:
        print_rows([{**_segment_row(segment), "result": verb}], [], as_json=True)
    else:
        console.print(f"{verb} {segment.id} ({segment.name}): {segment.member_count} members")


@app.command("list")
def segments_list(
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """List a directory's segments with their member counts."""
    settings = Settings.from_env()
    rows = [_segment_row(segment) for segment in _all_segments(settings, resolve_directory(settings, directory))]
    print_rows(rows, [("id", "id"), ("name", "name"), ("members", "members"), ("description", "description")], as_json)


@app.command("members")
def segments_members(
    segment_id: str,
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """List a segment's members (contact id and since when)."""
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    members = all_pages(
        lambda page: call(
            settings.directory_grpc_target,
            lambda channel, md: _stub(channel).ListSegmentMembers(
                directory_pb2.ListSegmentMembersRequest(directory_id=directory_id, segment_id=segment_id, page=page),
                metadata=md,
            ),
        ),
        lambda reply: reply.members,
    )
    rows = [{"contactId": member.contact_id, "since": member.member_since.ToJsonString()} for member in members]
    print_rows(rows, [("contactId", "contact"), ("since", "member since")], as_json)


def _explanation(node: directory_pb2.RuleExplanation) -> dict[str, Any]:
    return {
        "path": node.path,
        "description": node.description,
        "value": json_format.MessageToDict(node.value),
        "held": node.held,
        "children": [_explanation(child) for child in node.children],
    }


def _print_tree(node: dict[str, Any], depth: int = 0) -> None:
    mark = "[green]✓[/green]" if node["held"] else "[red]✗[/red]"
    console.print(f"{'  ' * depth}{mark} {node['description']}  [dim]= {node['value']!r}  ({node['path']})[/dim]")
    for child in node["children"]:
        _print_tree(child, depth + 1)


@app.command("explain")
def segments_explain(
    segment_id: str,
    contact_id: str,
    directory: str = typer.Option(None, "--directory", "-d", help=DIRECTORY_OPTION_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Why a contact is (or is not) in a segment: every rule node with its value and whether it held."""
    settings = Settings.from_env()
    directory_id = resolve_directory(settings, directory)
    reply = call(
        settings.directory_grpc_target,
        lambda channel, md: _stub(channel).ExplainMembership(
            directory_pb2.ExplainMembershipRequest(directory_id=directory_id, segment_id=segment_id, contact_id=contact_id),
            metadata=md,
        ),
    )
    explained = {
        "member": reply.member,
        "optedOut": reply.opted_out,
        "ruleHolds": reply.rule_holds,
        "rule": _explanation(reply.rule),
    }
    if as_json:
        print_rows([explained], [], as_json=True)
        return
    state = "member" if reply.member else "not a member"
    console.print(f"{contact_id} is {state} of {segment_id}" + (" (opted out)" if reply.opted_out else ""))
    _print_tree(explained["rule"])
