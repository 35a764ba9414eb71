"""Reads a contacts CSV for `cxflow contacts import`: header columns to contact fields or embedded data, one checked row at a time."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import struct_pb2

from cxflow.v1 import directory_pb2

# Header names (compared case-insensitively, spaces and underscores ignored) -> ContactInput fields.
# Every other column becomes embedded data under its header as written.
CONTACT_COLUMNS = {
    "firstname": "first_name",
    "lastname": "last_name",
    "email": "email",
    "phone": "phone",
    "extref": "ext_ref",
    "language": "language",
}
# A contact needs one of these to be found again (dedup rules and lookups use them), as in XM Directory.
IDENTITY_COLUMNS = ("email", "phone", "ext_ref")


class CsvLayoutError(ValueError):
    """The file cannot be imported at all (no header, duplicate columns): a usage error, nothing is sent."""


@dataclass(frozen=True)
class CsvRow:
    """One data row: its line in the file (the header is line 1) and either the contact or why it was refused."""

    line: int
    contact: directory_pb2.ContactInput | None
    error: str = ""


def _column_key(header: str) -> str:
    return header.strip().lower().replace("_", "").replace(" ", "")


def count_rows(path: Path) -> int:
    """Data rows in the file (records, so quoted values spanning lines count once): the progress bar's total."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(sum(1 for cells in csv.reader(handle) if any(cell.strip() for cell in cells)) - 1, 0)


def check_header(path: Path) -> None:
    """Raises CsvLayoutError when the file cannot be imported at all; call it before anything is sent."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        _columns(path, next(csv.reader(handle), None))


def _columns(path: Path, header: list[str] | None) -> tuple[list[str], list[str | None]]:
    """The header's names and, for each, the ContactInput field it fills (None: an embedded-data key)."""
    if not header or not any(cell.strip() for cell in header):
        raise CsvLayoutError(f"{path} has no header row (e.g. firstName,lastName,email,phone,extRef,language,<embedded data>...)")
    headers = [cell.strip() for cell in header]
    if "" in headers:
        raise CsvLayoutError(f"{path}: column {headers.index('') + 1} of the header has no name")
    keys = [CONTACT_COLUMNS.get(_column_key(name)) for name in headers]
    targets = [key or name for key, name in zip(keys, headers, strict=True)]
    duplicated = sorted({target for target in targets if targets.count(target) > 1})
    if duplicated:
        raise CsvLayoutError(f"{path}: the header names these columns more than once: {', '.join(duplicated)}")
    return headers, keys


def read_rows(path: Path) -> Iterator[CsvRow]:
    """Streams the file's rows as ContactInputs; a row the directory should not get comes with its error instead."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        headers, keys = _columns(path, next(reader, None))
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            yield _row(line, headers, keys, cells)


def _row(line: int, headers: list[str], keys: list[str | None], cells: list[str]) -> CsvRow:
    if len(cells) != len(headers):
        return CsvRow(line, None, f"has {len(cells)} columns, the header has {len(headers)}")
    contact = directory_pb2.ContactInput()
    embedded: dict[str, str] = {}
    for name, key, cell in zip(headers, keys, cells, strict=True):
        value = cell.strip()
        if not value:
            continue  # an empty cell leaves the stored value alone, as an absent field does
        if key is None:
            embedded[name] = value
        else:
            setattr(contact, key, value)
    if not any(contact.HasField(field) for field in IDENTITY_COLUMNS):
        return CsvRow(line, None, "needs an email, phone or extRef")
    if contact.HasField("email") and not _looks_like_email(contact.email):
        return CsvRow(line, None, f"email {contact.email!r} is not an email address")
    if embedded:
        data = struct_pb2.Struct()
        data.update(embedded)
        contact.embedded_data.CopyFrom(data)
    return CsvRow(line, contact)


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and " " not in value)
