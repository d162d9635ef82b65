"""Search ranges declared on config fields: what ``deeprecs tune`` may vary, and over which values.

A field declares its range in its pydantic ``Field`` (``json_schema_extra=int_range(8, 256, log=True)``),
so a model's search space is read off its config (:func:`space_of`) rather than listed anywhere else.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def int_range(low: int, high: int, log: bool = False) -> dict:
    return {"search": {"type": "int", "low": low, "high": high, "log": log}}


def float_range(low: float, high: float, log: bool = False) -> dict:
    return {"search": {"type": "float", "low": low, "high": high, "log": log}}


def choice(*values: Any) -> dict:
    return {"search": {"type": "choice", "values": list(values)}}


def space_of(config: type[BaseModel], exclude: set[str] | frozenset = frozenset()) -> dict[str, dict]:
    """``{field: range}`` of the fields of ``config`` that declare a search range (but ``exclude``)."""
    out = {}
    for name, field in config.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if "search" in extra and name not in exclude:
            out[name] = dict(extra["search"])
    return out


__all__ = ["choice", "float_range", "int_range", "space_of"]
