"""JSON fields (workflow metadata, merge patches, task input/output/error) travel as JSON text:
encoded here on the way out, decoded on the way back."""

from __future__ import annotations

import json
from typing import Any

from cairn.errors import InvalidArgument, RpcError

#: A JSON value as Python holds it (dict, list, str, int, float, bool or None).
Json = Any
#: A JSON object.
JsonObject = dict[str, Any]


def dumps(field: str, value: Json) -> str:
    """``value`` as compact JSON text; InvalidArgument if it is not JSON (NaN included)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{field} is not JSON-serializable: {e}") from e


def loads_opt(field: str, text: str) -> Json | None:
    """JSON text from the server; empty means unset (None). Bad JSON is a server fault."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise bad_reply(f"{field} is not JSON: {e}") from e


def loads_object(field: str, text: str) -> JsonObject:
    """A JSON object from the server; empty means {}."""
    value = loads_opt(field, text)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_reply(f"{field} is not a JSON object")
    return value


def bad_reply(what: str) -> RpcError:
    """A server answer that does not parse: a server bug or a version mismatch."""
    import grpc

    return RpcError(f"malformed server reply: {what}", code=grpc.StatusCode.INTERNAL)
