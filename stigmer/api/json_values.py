"""JSON values in the API: encoded as JSON text in ``*_json`` fields, so they read back exactly.

``google.protobuf.Struct`` stores every number as a double (``1`` reads back as ``1.0``, and
``9007199254740993`` as ``...992``) and its keys in no stable order; JSON text keeps integers,
precision and the declared key order. :func:`message_to_dict` is the one view of a message as a JSON
document (``get -o json``, the tiers): ``*_json`` fields appear decoded under their name without the
suffix, message fields in declaration order, map keys sorted.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

JSON_SUFFIX = "_json"


class JsonValueError(ValueError):
    """A value that is not JSON data (a set, an object, NaN ...), or text that is not JSON."""


def dumps(value: Any) -> str:
    """Compact JSON text for ``value`` (keys in their order, no NaN/Infinity)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise JsonValueError(f"not JSON data: {exc}") from exc


def loads(text: str, default: Any = None) -> Any:
    """The value of JSON text; ``default`` for empty text."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JsonValueError(f"not valid JSON: {exc}") from exc


def loads_object(text: str) -> dict[str, Any]:
    """A JSON object (``{}`` for empty text); ``JsonValueError`` for any other value."""
    value = loads(text, {})
    if not isinstance(value, dict):
        raise JsonValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def message_to_dict(message: Message) -> dict[str, Any]:
    """The message as a JSON document: set fields only, proto field names, JSON fields decoded."""
    data: dict[str, Any] = {}
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]  # the upb Descriptor, same API
    for field in descriptor.fields:
        if field.GetOptions().deprecated:
            continue
        value = getattr(message, field.name)
        if _is_map(field):
            if value:
                value_field = field.message_type.fields_by_name["value"]  # type: ignore[union-attr]  # a map
                data[field.name] = {str(k): _scalar_or_message(value_field, value[k]) for k in sorted(value)}
        elif _is_repeated(field):
            if value:
                data[field.name] = [_scalar_or_message(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if message.HasField(field.name):
                data[field.name] = _scalar_or_message(field, value)
        elif field.name.endswith(JSON_SUFFIX) and field.type == FieldDescriptor.TYPE_STRING:
            if value:
                data[field.name.removesuffix(JSON_SUFFIX)] = _decoded(value)
        elif field.has_presence:
            if message.HasField(field.name):
                data[field.name] = _scalar(field, value)
        elif value:
            data[field.name] = _scalar(field, value)
    return data


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)  # protobuf >= 7 (pyproject.toml) has no FieldDescriptor.label


def _is_map(field: FieldDescriptor) -> bool:
    return (
        _is_repeated(field) and field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry  # type: ignore[union-attr]
    )


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # shown as stored rather than hidden


def _scalar_or_message(field: FieldDescriptor, value: Any) -> Any:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return _scalar(field, value)
    if field.message_type.full_name == "google.protobuf.Timestamp":  # type: ignore[union-attr]  # TYPE_MESSAGE
        return value.ToJsonString()
    return message_to_dict(value)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)  # type: ignore[union-attr]  # TYPE_ENUM
        return enum_value.name if enum_value is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        import base64

        return base64.b64encode(value).decode("ascii")
    return value
