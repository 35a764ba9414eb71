"""Writes docs/grpc-api.md, the gRPC API reference, from protos/ and their comments; --check fails when the doc drifts.

protoc parses the .proto files into a FileDescriptorSet with source info (--include_source_info), so the doc is built
from the same parse the stubs come from: services and their methods, messages and their fields, enums and their
values, each with the comments written above it (and beside it, for fields and values).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
DOC_PATH = ROOT / "docs" / "grpc-api.md"

# Field numbers of FileDescriptorProto / DescriptorProto / ServiceDescriptorProto / EnumDescriptorProto that
# SourceCodeInfo location paths are made of (descriptor.proto).
_FILE_MESSAGES, _FILE_ENUMS, _FILE_SERVICES, _FILE_SYNTAX = 4, 5, 6, 12
_MESSAGE_FIELDS, _MESSAGE_NESTED, _MESSAGE_ENUMS = 2, 3, 4
_SERVICE_METHODS = 2
_ENUM_VALUES = 2

_SCALAR_TYPES = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "sint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def read_descriptors() -> list[descriptor_pb2.FileDescriptorProto]:
    """Every .proto under protos/, parsed by protoc with comments kept, in file-name order."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"-I{well_known}",
                f"--descriptor_set_out={out}",
                "--include_source_info",
                *protos,
            ]
        )
        if status != 0:
            raise SystemExit(f"protoc failed with status {status}")
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return sorted(descriptor_set.file, key=lambda file: file.name)


class Comments:
    """A file's comments by location path: the leading comment above an element, the trailing one beside it."""

    def __init__(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        self._locations = {tuple(location.path): location for location in file.source_code_info.location}

    def above(self, *path: int) -> str:
        location = self._locations.get(path)
        return _tidy(location.leading_comments) if location else ""

    def beside(self, *path: int) -> str:
        location = self._locations.get(path)
        return _tidy(location.trailing_comments) if location else ""

    def either(self, *path: int) -> str:
        return " ".join(part for part in (self.above(*path), self.beside(*path)) if part)

    def detached_before(self, *path: int) -> str:
        location = self._locations.get(path)
        if not location:
            return ""
        return "\n\n".join(_tidy(block) for block in location.leading_detached_comments)


def _tidy(comment: str) -> str:
    """A comment's lines without the single space protoc keeps after `//`, trailing blanks dropped."""
    lines = [line.removeprefix(" ") for line in comment.rstrip().splitlines()]
    return "\n".join(lines).strip("\n")


def _one_line(text: str) -> str:
    """For a table cell: one line, pipes and angle brackets escaped (GitHub would read `<data key>` as HTML)."""
    return _escape(" ".join(text.split())).replace("|", "\\|")


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _block(comment: str) -> list[str]:
    """A comment as Markdown: laid-out comments (indented lines, like a rule grammar) keep their layout in a fence."""
    if any(line.startswith("  ") for line in comment.splitlines()):
        return ["```text", comment, "```", ""]
    return [_escape(comment), ""]


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(char for char in heading.lower() if char.isalnum() or char in " -_")
    return kept.replace(" ", "-")


class Names:
    """Where each message and enum of the package is documented, for links from field and method types."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self.headings: dict[str, str] = {}
        self.map_entries: dict[str, descriptor_pb2.DescriptorProto] = {}
        for file in files:
            for full_name, message, _ in _messages(list(file.message_type), file.package, (_FILE_MESSAGES,)):
                if message.options.map_entry:
                    self.map_entries[full_name] = message
                else:
                    self.headings[full_name] = full_name.removeprefix(file.package + ".")
                for enum in message.enum_type:
                    self.headings[f"{full_name}.{enum.name}"] = "enum " + f"{full_name}.{enum.name}".removeprefix(
                        file.package + "."
                    )
            for enum in file.enum_type:
                self.headings[f"{file.package}.{enum.name}"] = f"enum {enum.name}"

    def link(self, type_name: str) -> str:
        name = type_name.lstrip(".")
        heading = self.headings.get(name)
        if heading is None:
            return f"`{name}`"  # a well-known type (google.protobuf.*)
        return f"[{heading.removeprefix('enum ')}](#{_anchor(heading)})"

    def of_field(self, field: descriptor_pb2.FieldDescriptorProto) -> str:
        if field.type in _SCALAR_TYPES:
            return f"`{_SCALAR_TYPES[field.type]}`"
        entry = self.map_entries.get(field.type_name.lstrip("."))
        if entry is not None:
            return f"map of {self.of_field(entry.field[0])} to {self.of_field(entry.field[1])}"
        return self.link(field.type_name)

    def label(self, field: descriptor_pb2.FieldDescriptorProto) -> str:
        if field.type_name.lstrip(".") in self.map_entries:
            return ""
        if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
            return "repeated"
        if field.proto3_optional:
            return "optional"
        return ""


def _messages(
    messages: list[descriptor_pb2.DescriptorProto], prefix: str, path: tuple[int, ...]
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]]:
    """Every message with its full name and location path, nested ones right after their parent."""
    for index, message in enumerate(messages):
        full_name = f"{prefix}.{message.name}"
        here = (*path, index)
        yield full_name, message, here
        yield from _messages(list(message.nested_type), full_name, (*here, _MESSAGE_NESTED))


def render_file(file: descriptor_pb2.FileDescriptorProto, names: Names) -> list[str]:
    comments = Comments(file)
    package = file.package
    all_messages = list(_messages(list(file.message_type), package, (_FILE_MESSAGES,)))
    out = [f"## {file.name}", ""]
    about = comments.detached_before(_FILE_SYNTAX) or comments.above(_FILE_SYNTAX)
    if about:
        out += _block(about)

    for service_index, service in enumerate(file.service):
        full_name = f"{package}.{service.name}"
        out += [f"### service {service.name}", ""]
        described = comments.above(_FILE_SERVICES, service_index)
        if described:
            out += _block(described)
        out += ["| method | request | response | description |", "| --- | --- | --- | --- |"]
        for method_index, method in enumerate(service.method):
            request = names.link(method.input_type)
            response = names.link(method.output_type)
            if method.client_streaming:
                request = f"stream {request}"
            if method.server_streaming:
                response = f"stream {response}"
            text = _one_line(comments.either(_FILE_SERVICES, service_index, _SERVICE_METHODS, method_index))
            out.append(f"| `{full_name}/{method.name}` | {request} | {response} | {text} |")
        out.append("")

    for full_name, message, path in all_messages:
        if message.options.map_entry:
            continue
        out += [f"### {full_name.removeprefix(package + '.')}", ""]
        before = comments.detached_before(*path)
        described = comments.above(*path)
        for block in (before, described):
            if block:
                out += _block(block)
        if message.field:
            out += ["| field | type | label | description |", "| --- | --- | --- | --- |"]
            for field_index, field in enumerate(message.field):
                text = _one_line(comments.either(*path, _MESSAGE_FIELDS, field_index))
                oneof = ""
                if field.HasField("oneof_index") and not field.proto3_optional:
                    oneof = f"one of `{message.oneof_decl[field.oneof_index].name}`"
                label = " ".join(part for part in (names.label(field), oneof) if part)
                out.append(f"| `{field.name}` = {field.number} | {names.of_field(field)} | {label} | {text} |")
        else:
            out.append("(no fields)")
        out.append("")
        for enum_index, enum in enumerate(message.enum_type):
            out += _render_enum(comments, f"{full_name}.{enum.name}", package, enum, (*path, _MESSAGE_ENUMS, enum_index))

    for enum_index, enum in enumerate(file.enum_type):
        out += _render_enum(comments, f"{package}.{enum.name}", package, enum, (_FILE_ENUMS, enum_index))
    return out


def _render_enum(
    comments: Comments, full_name: str, package: str, enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...]
) -> list[str]:
    out = [f"### enum {full_name.removeprefix(package + '.')}", ""]
    described = comments.above(*path)
    if described:
        out += _block(described)
    out += ["| value | number | description |", "| --- | --- | --- |"]
    for value_index, value in enumerate(enum.value):
        out.append(f"| `{value.name}` | {value.number} | {_one_line(comments.either(*path, _ENUM_VALUES, value_index))} |")
    out.append("")
    return out


def render(files: list[descriptor_pb2.FileDescriptorProto]) -> str:
    out = [
        "# gRPC API reference",
        "",
        "<!-- Generated by scripts/generate_api_docs.py from protos/ (`make docs`); do not edit by hand. -->",
        "",
        "Every call carries `authorization: Bearer <API token>` (an organization's token from `cxflow tokens create`);",
        "calls marked internal take the service token (`CXFLOW_INTERNAL_TOKEN`) instead. Errors use the standard gRPC",
        "status codes (INVALID_ARGUMENT naming the field, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, ...). The",
        "services expose gRPC reflection and health, so `grpcurl -plaintext localhost:50052 list` works too.",
        "",
        "Files: " + ", ".join(f"[{file.name}](#{_anchor(file.name)})" for file in files),
        "",
    ]
    names = Names(files)
    for file in files:
        out += render_file(file, names)
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"fail when {DOC_PATH.relative_to(ROOT)} differs from protos/")
    args = parser.parse_args()
    text = render(read_descriptors())
    if args.check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH.relative_to(ROOT)} drifted from protos/; run: make docs", file=sys.stderr)
            return 1
        print(f"{DOC_PATH.relative_to(ROOT)} up to date")
        return 0
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
