"""Command-line options generated from the pydantic configs: each field becomes ``--name VALUE`` with
its type, constraints and description.

A value is converted and checked by pydantic against the field's own annotation and constraints
(``--factors 0`` fails as the config would), lists are comma-separated (``--layers 64,32,16``), a
list of mappings is JSON (``--member-options '[{"l2": 1.0}, {}]'``), a ``Literal`` is a choice.
"""

from __future__ import annotations

import json
import typing
from typing import Annotated, Any

import click
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from deeprecs.errors import ConfigError


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _wants_json(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return _is_list(annotation) and bool(args) and typing.get_origin(args[0]) in (dict, list) or args[:1] == (dict,)


class FieldValue(click.ParamType):
    """A value of one config field, converted and checked by pydantic."""

    def __init__(self, name: str, field: FieldInfo) -> None:
        self.field_name, self.annotation = name, field.annotation
        self.adapter = TypeAdapter(Annotated[field.annotation, *field.metadata]) if field.metadata else TypeAdapter(field.annotation)
        choices = typing.get_args(field.annotation) if typing.get_origin(field.annotation) is typing.Literal else ()
        self.name = getattr(field.annotation, "__name__", str(field.annotation)).upper()
        self.metavar = f"[{'|'.join(map(str, choices))}]" if choices else "JSON" if _wants_json(field.annotation) else \
            f"{typing.get_args(field.annotation)[0].__name__.upper()},..." if _is_list(field.annotation) else self.name

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        raw: Any = value
        if _wants_json(self.annotation):
            try:
                raw = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--{self.field_name.replace('_', '-')} {value!r}: not JSON ({exc.msg})") from None
        elif _is_list(self.annotation):
            raw = [v.strip() for v in value.split(",") if v.strip()]
        try:
            return self.adapter.validate_python(raw)
        except ValidationError as exc:
            raise ConfigError(f"invalid option --{self.field_name.replace('_', '-')} {value!r}: "
                              f"{self.field_name}: {exc.errors()[0]['msg']}") from None


def config_options(config: type[BaseModel], exclude: set[str] = frozenset(), group: str = "",
                   task_defaults: dict[str, dict] | None = None) -> list[click.Option]:
    """One click option per field of ``config`` (but ``exclude``), its parameter named ``group__field``;
    ``task_defaults``: per task (or setting), the defaults that replace the config's there, shown in the help."""
    out = []
    for name, field in config.model_fields.items():
        if name in exclude:
            continue
        default = field.get_default(call_default_factory=True)
        per_task = "".join(f"; {task}: {values[name]!r}" for task, values in (task_defaults or {}).items() if name in values)
        help_text = (field.description or "").rstrip(".") + (f" [default: {default!r}{per_task}]" if default is not None else "")
        search = (field.json_schema_extra or {}).get("search") if isinstance(field.json_schema_extra, dict) else None
        if search:
            span = "|".join(map(str, search["values"])) if search["type"] == "choice" else \
                f"{search['low']:g}..{search['high']:g}{' log' if search['log'] else ''}"
            help_text += f" [tune: {span}]"
        out.append(click.Option([f"--{name.replace('_', '-')}", f"{group}__{name}"], type=FieldValue(name, field), default=None,
                                help=help_text.strip()))
    return out


def split_options(values: dict) -> dict[str, dict]:
    """``{"group__field": value}`` as parsed -> ``{group: {field: value}}``, unset ones dropped."""
    out: dict[str, dict] = {}
    for dest, value in values.items():
        if "__" in dest and value is not None:
            group, name = dest.split("__", 1)
            out.setdefault(group, {})[name] = value
    return out


__all__ = ["FieldValue", "config_options", "split_options"]
