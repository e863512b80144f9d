"""A small JSON Schema subset: one schema validates a request and documents it in OpenAPI.

Supported: type (one or a list, "null" included), enum, minLength, maxLength, pattern,
minimum, maximum, items, maxItems, properties, required, additionalProperties=false.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .errors import Invalid

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def validate(value: Any, schema: dict[str, Any], path: str = "") -> Any:
    """Check ``value`` against ``schema``; raise ``Invalid`` naming the field."""
    where = path or "body"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            raise Invalid(f"{where} must be {' or '.join(kinds)}, not {_name(value)}", code="bad_type")
    if value is None:
        return value
    if "enum" in schema and value not in schema["enum"]:
        raise Invalid(f"{where} must be one of {schema['enum']}", code="bad_value")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise Invalid(f"{where} is too short", code="bad_value")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise Invalid(f"{where} is longer than {schema['maxLength']} characters", code="bad_value")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            raise Invalid(f"{where} is not in the expected form", code="bad_value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(f"{where} must be at least {schema['minimum']}", code="bad_value")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(f"{where} must be at most {schema['maximum']}", code="bad_value")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise Invalid(f"{where} has more than {schema['maxItems']} items", code="bad_value")
        if "items" in schema:
            for i, item in enumerate(value):
                validate(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                raise Invalid(f"{_join(path, key)} is required", code="missing_field")
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                raise Invalid(f"unknown field {_join(path, extra[0])}", code="unknown_field")
        for key, sub in props.items():
            if key in value:
                validate(value[key], sub, _join(path, key))
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _name(value: Any) -> str:
    for name, kinds in _TYPES.items():
        if _is(value, name):
            return name
    return type(value).__name__


def obj(required: list[str] | None = None, /, **props: Mapping[str, Any]) -> dict[str, Any]:
    """An object schema that allows only the listed properties."""
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


STR = {"type": "string", "maxLength": 200}
WINDOW = {"type": "integer", "minimum": 1, "maximum": 9999}
DAY = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"}
PERIOD = {"type": "string", "maxLength": 40, "description": "2026-12-01, 2026-12, 2026-Q4 or 2026"}
NUMBER = {"type": "string", "pattern": "[A-Za-z]{1,2}[0-9]{3,4}"}  # a ticket's number, "A023"
