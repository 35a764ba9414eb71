"""Every workflow example in docs/workflow-yaml.md and the README passes the same validation as `cxflow workflows apply`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cxflow.commands.workflows import _struct, read_document
from services.ingestion.definitions import TRIGGER_TYPES, parse_definition
from services.ingestion.grpc_support import struct_document
from workflows.contracts import TASK_TYPES

ROOT = Path(__file__).resolve().parents[2]
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def workflow_examples(path: Path) -> list[str]:
    """The yaml blocks of a Markdown file that hold a whole workflow (a top-level `tasks:` key)."""
    return [block for block in YAML_BLOCK.findall(path.read_text()) if re.search(r"^tasks:", block, re.MULTILINE)]


DOC_EXAMPLES = workflow_examples(ROOT / "docs" / "workflow-yaml.md")
README_EXAMPLES = workflow_examples(ROOT / "README.md")


def apply_path(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """What `cxflow workflows apply -f` and CreateWorkflow do with a file: read it, drop `id`, send it as a Struct,
    read the Struct back on the server and validate the definition."""
    file = tmp_path / "workflow.yaml"
    file.write_text(text)
    spec = read_document(file)
    spec.pop("id", None)
    return parse_definition(struct_document(_struct(spec), "spec"))


@pytest.mark.parametrize("example", DOC_EXAMPLES + README_EXAMPLES, ids=lambda text: text.split("\n", 1)[0][:40])
def test_example_is_a_valid_definition(example: str, tmp_path: Path) -> None:
    definition = apply_path(example, tmp_path)
    assert definition.tasks


def test_the_doc_shows_every_task_type_and_trigger(tmp_path: Path) -> None:
    definitions = [apply_path(example, tmp_path) for example in DOC_EXAMPLES]
    assert {task["type"] for definition in definitions for task in definition.tasks} == set(TASK_TYPES)
    assert {definition.trigger_type for definition in definitions} == set(TRIGGER_TYPES)
    assert README_EXAMPLES, "the README's workflow example is validated too"
