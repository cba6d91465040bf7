"""Backward compatibility of a schema change: can readers of the new version read data
written with the old one? (Avro schema resolution rules, as a Schema Registry checks
BACKWARD compatibility.) Returns the problems found; empty means compatible.
"""

from __future__ import annotations

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def _kind(schema) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return (
            schema["type"]
            if schema["type"] in ("record", "enum", "array", "map", "fixed")
            else _kind(schema["type"])
        )
    return schema


def _named(schemas: dict, schema):
    """Resolves references to named types defined earlier in the same file."""
    if isinstance(schema, str) and schema in schemas:
        return schemas[schema]
    if isinstance(schema, dict) and "name" in schema and _kind(schema) in ("record", "enum"):
        schemas[schema["name"]] = schema
    return schema


def reader_problems(writer, reader, path: str = "", names: dict | None = None) -> list[str]:
    names = {} if names is None else names
    writer, reader = _named(names, writer), _named(names, reader)
    writer_kind, reader_kind = _kind(writer), _kind(reader)
    if writer_kind == "union":
        return [p for branch in writer for p in reader_problems(branch, reader, path, names)]
    if reader_kind == "union":
        for branch in reader:
            if not reader_problems(writer, branch, path, dict(names)):
                return []
        return [f"{path or 'record'}: no branch of the new union reads {writer_kind}"]
    if writer_kind in _PROMOTIONS or reader_kind in _PROMOTIONS:
        if reader_kind not in _PROMOTIONS.get(writer_kind, {writer_kind}):
            return [f"{path}: {writer_kind} cannot be read as {reader_kind}"]
        return []
    if writer_kind != reader_kind:
        return [f"{path}: {writer_kind} cannot be read as {reader_kind}"]
    if writer_kind == "record":
        return _record_problems(writer, reader, path, names)
    if writer_kind == "enum":
        missing = set(writer["symbols"]) - set(reader["symbols"])
        if missing and "default" not in reader:
            return [f"{path}: enum symbols removed without a default: {sorted(missing)}"]
        return []
    if writer_kind == "array":
        return reader_problems(writer["items"], reader["items"], f"{path}[]", names)
    if writer_kind == "map":
        return reader_problems(writer["values"], reader["values"], f"{path}{{}}", names)
    return []


def _record_problems(writer: dict, reader: dict, path: str, names: dict) -> list[str]:
    written = {f["name"]: f for f in writer["fields"]}
    problems = []
    for field in reader["fields"]:
        where = f"{path}.{field['name']}" if path else field["name"]
        source = written.get(field["name"]) or next(
            (written[a] for a in field.get("aliases", []) if a in written), None
        )
        if source is None:
            if "default" not in field:
                problems.append(f"{where}: new field without a default")
            continue
        problems += reader_problems(source["type"], field["type"], where, names)
    return problems
