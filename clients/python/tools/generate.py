#!/usr/bin/env python3
"""Generates quotaledger/_protocol.py, the Python codecs, from the SBE schema (the single source of truth).

SBE's own tool has no Python target, so this small generator reads the schema with xml.etree and writes one
struct.Struct per message and version: encoding is one ``pack_into`` of the length prefix, the header and the root
block; decoding one ``unpack_from`` of the block. Run it after every schema change and commit the result:

    python3 clients/python/tools/generate.py          # rewrite the module
    python3 clients/python/tools/generate.py --check  # exit 1 when the checked-in module is stale

tests/test_generated.py fails when the checked-in module differs from what the schema generates.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "ledger-protocol" / "src" / "main" / "resources" / "sbe" / "ledger-protocol.xml"
OUTPUT = ROOT / "clients" / "python" / "quotaledger" / "_protocol.py"

# SBE primitive type: (struct code, size)
PRIMITIVES = {
    "char": ("c", 1),
    "int8": ("b", 1),
    "uint8": ("B", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "uint64": ("Q", 8),
}


def snake(name: str) -> str:
    """correlationId -> correlation_id, SetLimit -> set_limit."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def upper_snake(name: str) -> str:
    """exceededHold -> EXCEEDED_HOLD; names already in upper case stay."""
    return snake(name).upper()


@dataclass
class Scalar:
    """One primitive on the wire: a field, or one part of a composite field."""

    name: str
    code: str
    size: int
    since: int
    doc: str = ""


@dataclass
class Group:
    name: str
    dimension: list[Scalar]
    entries: list[Scalar]


@dataclass
class Data:
    name: str
    length: Scalar
    max_length: int | None


@dataclass
class Message:
    name: str
    template_id: int
    since: int
    doc: str
    fields: list[Scalar]
    groups: list[Group] = field(default_factory=list)
    data: list[Data] = field(default_factory=list)


@dataclass
class Enum:
    name: str
    kind: str  # "enum" or "set"
    code: str
    doc: str
    values: list[tuple[str, int, int, str]]  # name, value, since, doc


class Schema:
    def __init__(self, path: Path) -> None:
        self.path = path
        root = ET.parse(path).getroot()
        self.schema_id = int(root.get("id"))
        self.version = int(root.get("version", "0"))
        self.byte_order = root.get("byteOrder", "littleEndian")
        if self.byte_order != "littleEndian":
            raise SystemExit(f"{path}: only littleEndian schemas are supported")
        self.composites: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        self.types: dict[str, str] = {}
        self.enums: list[Enum] = []
        self.enum_codes: dict[str, tuple[str, int]] = {}
        for types in root.iter("types"):
            for node in types:
                tag = node.tag.split("}")[-1]
                name = node.get("name")
                if tag == "composite":
                    self.composites[name] = [(part.get("name"), part.get("primitiveType"), dict(part.attrib))
                                             for part in node]
                elif tag == "type":
                    self.types[name] = node.get("primitiveType")
                elif tag in ("enum", "set"):
                    code, size = PRIMITIVES[node.get("encodingType")]
                    values = []
                    for value in node:
                        values.append((value.get("name"), int(value.text.strip()),
                                       int(value.get("sinceVersion", "0")), value.get("description", "")))
                    self.enums.append(Enum(name, tag, code, node.get("description", ""), values))
                    self.enum_codes[name] = (code, size)
        self.header = self._primitive_parts("messageHeader", 0)
        self.messages: list[Message] = []
        for node in root:
            if node.tag.split("}")[-1] != "message":
                continue
            since = int(node.get("sinceVersion", "0"))
            message = Message(node.get("name"), int(node.get("id")), since, node.get("description", ""), [])
            for child in node:
                tag = child.tag.split("}")[-1]
                if tag == "field":
                    if child.get("offset") is not None:
                        raise SystemExit(f"{path}: explicit field offsets are not supported ({child.get('name')})")
                    message.fields.extend(self._field(child, max(since, int(child.get("sinceVersion", "0")))))
                elif tag == "group":
                    entries = []
                    for entry in child:
                        entries.extend(self._field(entry, 0))
                    dimension = self._primitive_parts(child.get("dimensionType", "groupSizeEncoding"), 0)
                    message.groups.append(Group(child.get("name"), dimension, entries))
                elif tag == "data":
                    parts = self.composites[child.get("type")]
                    length_name, length_type, attributes = parts[0]
                    code, size = PRIMITIVES[length_type]
                    max_length = attributes.get("maxValue")
                    message.data.append(Data(child.get("name"), Scalar("length", code, size, 0),
                                             int(max_length) if max_length else None))
            self.messages.append(message)

    def _primitive_parts(self, composite: str, since: int) -> list[Scalar]:
        parts = []
        for name, primitive, _ in self.composites[composite]:
            code, size = PRIMITIVES[primitive]
            parts.append(Scalar(snake(name), code, size, since))
        return parts

    def _field(self, node: ET.Element, since: int) -> list[Scalar]:
        name = snake(node.get("name"))
        kind = node.get("type")
        doc = node.get("description", "")
        if kind in PRIMITIVES:
            code, size = PRIMITIVES[kind]
            return [Scalar(name, code, size, since, doc)]
        if kind in self.types:
            code, size = PRIMITIVES[self.types[kind]]
            return [Scalar(name, code, size, since, doc)]
        if kind in self.enum_codes:
            code, size = self.enum_codes[kind]
            return [Scalar(name, code, size, since, doc or f"{kind} (raw value)")]
        if kind in self.composites:
            return [Scalar(f"{name}_{part.name}", part.code, part.size, since, doc)
                    for part in self._primitive_parts(kind, since)]
        raise SystemExit(f"{self.path}: unknown type {kind} of field {node.get('name')}")


def wrapped(head: str, parts: list[str], tail: str, indent: int, width: int = 120) -> list[str]:
    """``head`` + the comma-separated ``parts`` + ``tail``, broken into lines of at most ``width`` characters,
    continuation lines aligned after ``head``."""
    lines = []
    line = head
    for i, part in enumerate(parts):
        piece = part + (", " if i < len(parts) - 1 else tail)
        if len(line) + len(piece.rstrip()) > width and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * (len(head) if len(head) < width // 2 else indent + 8)
        line += piece
    lines.append(line)
    return lines


def block_fields(message: Message, version: int) -> list[Scalar]:
    return [f for f in message.fields if f.since <= version]


def block_length(fields: list[Scalar]) -> int:
    return sum(f.size for f in fields)


def struct_format(fields: list[Scalar]) -> str:
    return "".join(f.code for f in fields)


def versions(schema: Schema, message: Message) -> list[int]:
    first = max(1, message.since)
    return list(range(first, schema.version + 1))


def render(schema_path: Path = SCHEMA) -> str:
    schema = Schema(schema_path)
    relative = schema_path.resolve().relative_to(ROOT) if schema_path.resolve().is_relative_to(ROOT) \
        else schema_path.name
    out: list[str] = []
    w = out.append
    header_format = struct_format(schema.header)
    header_size = block_length(schema.header)
    w(f'"""Codecs of the quota ledger protocol (schema id {schema.schema_id}, version {schema.version}).')
    w("")
    w("GENERATED by clients/python/tools/generate.py from")
    w(f"{relative}: do not edit; run the generator after a schema change.")
    w("Every frame is a uint32 little-endian length (the bytes after it),")
    w("the 8-byte SBE message header, then the message's root block (then its groups and variable data).")
    w("")
    w("Each message class has TEMPLATE_ID, BLOCK_LENGTH (this schema's version), BLOCK_LENGTHS (per version),")
    w("FIELDS, BLOCK (a struct.Struct of the root block per version in BLOCKS), encode() and decode().")
    w("encode() writes the whole frame (length prefix included) at this schema's version into a writable buffer")
    w("that is long enough (frame_length()), and returns the offset after it. decode() reads a root block of the")
    w("given block length and version (from the header): fields the version does not have are 0, bytes past the")
    w('fields it knows (a newer version) are skipped."""')
    w("")
    w("from __future__ import annotations")
    w("")
    w("import enum")
    w("import struct")
    w("from typing import Sequence")
    w("")
    w(f"SCHEMA_ID = {schema.schema_id}")
    w(f"SCHEMA_VERSION = {schema.version}")
    w("")
    w("LENGTH_PREFIX = struct.Struct(\"<I\")")
    w("LENGTH_PREFIX_LENGTH = 4")
    w(f"HEADER = struct.Struct(\"<{header_format}\")")
    w(f"HEADER_LENGTH = {header_size}")
    w("# the length prefix and the header in one")
    w(f"FRAME_HEADER = struct.Struct(\"<I{header_format}\")")
    w(f"FRAME_HEADER_LENGTH = {4 + header_size}")
    w("")
    w("")
    w("def _unknown(cls: type, value: object) -> object:")
    w("    \"\"\"A value the schema does not name (a newer peer's): kept, named UNKNOWN_<value>.\"\"\"")
    w("    if not isinstance(value, int) or isinstance(value, bool):")
    w("        return None")
    w("    member = int.__new__(cls, value)")
    w("    member._name_ = f\"UNKNOWN_{value}\"")
    w("    member._value_ = value")
    w("    return member")
    for enum_ in schema.enums:
        w("")
        w("")
        if enum_.kind == "enum":
            w(f"class {enum_.name}(enum.IntEnum):")
        else:
            w(f"class {enum_.name}(enum.IntFlag):")
        w(f"    \"\"\"{enum_.doc or enum_.name} ({'uint8' if enum_.code == 'B' else enum_.code}).\"\"\"")
        w("")
        for name, value, since, doc in enum_.values:
            comment = "; ".join(part for part in (doc, f"since version {since}" if since > 1 else "") if part)
            member = upper_snake(name)
            literal = f"1 << {value}" if enum_.kind == "set" else str(value)
            w(f"    {member} = {literal}" + (f"  # {comment}" if comment else ""))
        if enum_.kind == "enum":
            w("")
            w("    @classmethod")
            w(f"    def _missing_(cls, value: object) -> {enum_.name} | None:")
            w("        return _unknown(cls, value)  # type: ignore[return-value]")
    for message in schema.messages:
        render_message(schema, message, w)
    w("")
    w("")
    w("MESSAGES = {")
    for message in schema.messages:
        w(f"    {message.template_id}: {message.name},")
    w("}")
    w("\"\"\"Every message class by template id.\"\"\"")
    return "\n".join(out) + "\n"


def render_message(schema: Schema, message: Message, w) -> None:
    current = block_fields(message, schema.version)
    names = [f.name for f in current]
    params = list(names)
    for group in message.groups:
        params.append(snake(group.name))
    for data in message.data:
        params.append(snake(data.name))
    signature_parts = ["buffer: bytearray | memoryview", "offset: int"]
    for f in current:
        signature_parts.append(f"{f.name}: int")
    for group in message.groups:
        signature_parts.append(f"{snake(group.name)}: Sequence[int]" if len(group.entries) == 1
                               else f"{snake(group.name)}: Sequence[tuple[int, ...]]")
    for data in message.data:
        signature_parts.append(f"{snake(data.name)}: bytes")
    var_params = [snake(g.name) for g in message.groups] + [snake(d.name) for d in message.data]
    var_signature = ", ".join(
        [f"{snake(g.name)}: Sequence[int]" if len(g.entries) == 1 else f"{snake(g.name)}: Sequence[tuple[int, ...]]"
         for g in message.groups] + [f"{snake(d.name)}: bytes" for d in message.data])
    block = block_length(current)
    header_size = block_length(schema.header)
    w("")
    w("")
    w(f"class {message.name}:")
    doc = message.doc or message.name
    summary = f"{doc} (template {message.template_id}" + (
        f", since version {message.since}" if message.since > 1 else "") + ")."
    for line in textwrap.wrap(summary, 112, initial_indent='    """', subsequent_indent="    ")[:-1]:
        w(line)
    w(textwrap.wrap(summary, 112, initial_indent='    """', subsequent_indent="    ")[-1] + '"""')
    w("")
    w(f"    TEMPLATE_ID = {message.template_id}")
    w(f"    SINCE_VERSION = {max(1, message.since)}")
    w(f"    BLOCK_LENGTH = {block}")
    lengths = {v: block_length(block_fields(message, v)) for v in versions(schema, message)}
    w(f"    BLOCK_LENGTHS = {{{', '.join(f'{v}: {n}' for v, n in lengths.items())}}}")
    for line in wrapped("    FIELDS = (", [repr(n) for n in names], ",)" if len(names) == 1 else ")", 4):
        w(line)
    for v in versions(schema, message):
        fields = block_fields(message, v)
        suffix = "" if v == schema.version else f"_V{v}"
        w(f"    BLOCK{suffix} = struct.Struct(\"<{struct_format(fields)}\")")
    blocks = ", ".join(f"{v}: BLOCK" + ("" if v == schema.version else f"_V{v}") for v in versions(schema, message))
    w(f"    BLOCKS = {{{blocks}}}")
    w(f"    FRAME = struct.Struct(\"<I{struct_format(schema.header)}{struct_format(current)}\")")
    w("    \"\"\"The length prefix, the header and the root block, at this schema's version.\"\"\"")
    fixed = 4 + header_size + block
    if not var_params:
        w(f"    FRAME_LENGTH = {fixed}")
        w("    \"\"\"The whole frame, length prefix included.\"\"\"")
    for group in message.groups:
        entry_format = struct_format(group.entries)
        w(f"    {upper_snake(group.name)}_DIMENSION = struct.Struct(\"<{struct_format(group.dimension)}\")")
        w(f"    {upper_snake(group.name)}_ENTRY = struct.Struct(\"<{entry_format}\")")
        w(f"    {upper_snake(group.name)}_ENTRY_FIELDS = ({''.join(repr(e.name) + ', ' for e in group.entries)})")
    for data in message.data:
        w(f"    {upper_snake(data.name)}_LENGTH = struct.Struct(\"<{data.length.code}\")")
        if data.max_length is not None:
            w(f"    {upper_snake(data.name)}_MAX_LENGTH = {data.max_length}")

    # frame_length
    w("")
    w("    @staticmethod")
    w(f"    def frame_length({var_signature}) -> int:")
    w("        \"\"\"The bytes encode() writes, length prefix included.\"\"\"")
    expression = [str(fixed)]
    for group in message.groups:
        dim = block_length(group.dimension)
        entry = block_length(group.entries)
        expression.append(f"{dim} + {entry} * len({snake(group.name)})")
    for data in message.data:
        expression.append(f"{data.length.size} + len({snake(data.name)})")
    w(f"        return {' + '.join(expression)}")

    # encode
    w("")
    w("    @staticmethod")
    for line in wrapped("    def encode(", signature_parts, ") -> int:", 4):
        w(line)
    if var_params:
        w(f"        length = {message.name}.frame_length({', '.join(var_params)})")
        length = "length - 4"
    else:
        length = str(fixed - 4)
    args = ", ".join([length, str(block), str(message.template_id), str(schema.schema_id), str(schema.version)] +
                     names)
    for line in wrapped(f"        {message.name}.FRAME.pack_into(", ["buffer", "offset"] + args.split(", "), ")", 8):
        w(line)
    if not var_params:
        w(f"        return offset + {fixed}")
    else:
        w(f"        offset += {fixed}")
        for group in message.groups:
            gname = snake(group.name)
            upper = upper_snake(group.name)
            entry = block_length(group.entries)
            w(f"        {message.name}.{upper}_DIMENSION.pack_into(buffer, offset, {entry}, len({gname}))")
            w(f"        offset += {block_length(group.dimension)}")
            w(f"        pack = {message.name}.{upper}_ENTRY.pack_into")
            w(f"        for entry in {gname}:")
            if len(group.entries) == 1:
                w("            pack(buffer, offset, entry)")
            else:
                w("            pack(buffer, offset, *entry)")
            w(f"            offset += {entry}")
        for data in message.data:
            dname = snake(data.name)
            upper = upper_snake(data.name)
            w(f"        {message.name}.{upper}_LENGTH.pack_into(buffer, offset, len({dname}))")
            w(f"        offset += {data.length.size}")
            w(f"        buffer[offset:offset + len({dname})] = {dname}")
            w(f"        offset += len({dname})")
        w("        return offset")

    # decode
    w("")
    w("    @staticmethod")
    returns = "tuple"
    w(f"    def decode(buffer: bytes | bytearray | memoryview, offset: int, block_length: int, version: int) -> "
      f"{returns}:")
    doc = "The root block's fields in FIELDS order"
    if message.groups or message.data:
        doc += ", then " + ", ".join(
            [f"{snake(g.name)} (a list)" for g in message.groups] + [f"{snake(d.name)} (bytes)" for d in message.data])
    w(f"        \"\"\"{doc}.\"\"\"")
    all_versions = versions(schema, message)
    if len(all_versions) == 1:
        w(f"        values = {message.name}.BLOCK.unpack_from(buffer, offset)")
    else:
        w(f"        if version >= {schema.version}:")
        w(f"            values = {message.name}.BLOCK.unpack_from(buffer, offset)")
        for v in reversed(all_versions[:-1]):
            missing = len(current) - len(block_fields(message, v))
            keyword = "elif" if v != all_versions[0] else "else"
            if keyword == "elif":
                w(f"        elif version == {v}:")
            else:
                w("        else:")
            padding = f" + (0,) * {missing}" if missing else ""
            w(f"            values = {message.name}.BLOCK_V{v}.unpack_from(buffer, offset){padding}")
    if not (message.groups or message.data):
        w("        return values")
        return
    w("        offset += block_length")
    extra = []
    for group in message.groups:
        gname = snake(group.name)
        upper = upper_snake(group.name)
        w(f"        entry_length, count = {message.name}.{upper}_DIMENSION.unpack_from(buffer, offset)")
        w(f"        offset += {block_length(group.dimension)}")
        w(f"        unpack = {message.name}.{upper}_ENTRY.unpack_from")
        if len(group.entries) == 1:
            w(f"        {gname} = [unpack(buffer, offset + i * entry_length)[0] for i in range(count)]")
        else:
            w(f"        {gname} = [unpack(buffer, offset + i * entry_length) for i in range(count)]")
        w("        offset += entry_length * count")
        extra.append(gname)
    for data in message.data:
        dname = snake(data.name)
        upper = upper_snake(data.name)
        w(f"        (size,) = {message.name}.{upper}_LENGTH.unpack_from(buffer, offset)")
        w(f"        offset += {data.length.size}")
        w(f"        {dname} = bytes(buffer[offset:offset + size])")
        w("        offset += size")
        extra.append(dname)
    w(f"        return values + ({', '.join(extra)},)")


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate quotaledger/_protocol.py from the SBE schema.")
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the output differs, write nothing")
    args = parser.parse_args()
    text = render(args.schema)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python3 clients/python/tools/generate.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
