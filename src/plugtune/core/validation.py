"""Validate data against pydantic models with errors a user can act on: pydantic says
*what* failed; these also say *where* (the file, the dotted key) and which key a
misspelt one probably meant."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from plugtune.core.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def validate_model(model: type[ModelT], data: Mapping[str, Any], *, where: str) -> ModelT:
    """``model.model_validate(data)``, raising :class:`ConfigError` with located messages."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [_describe(model, item) for item in error.errors()]
        raise ConfigError(f"{where}: invalid configuration\n" + "\n".join(problems)) from None


def _describe(model: type[BaseModel], item: Mapping[str, Any]) -> str:
    location = tuple(item["loc"])
    dotted = ".".join(str(part) for part in location) or "(top level)"
    if item["type"] == "extra_forbidden":
        parent = _model_at(model, location[:-1])
        known = _field_keys(parent) if parent is not None else []
        hint = did_you_mean(str(location[-1]), known)
        listing = f"; known keys: {', '.join(known)}" if known and not hint else ""
        return f"  {dotted}: unknown key{hint}{listing}"
    return f"  {dotted}: {item['msg']}"


def _field_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(model: type[BaseModel], location: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the value at ``location`` below ``model``."""
    current: Any = model
    for part in location:
        if isinstance(part, int):  # an index into a list keeps the element model
            continue
        if not _is_model(current):
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        current = _element_model(field.annotation)
    return current if _is_model(current) else None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _element_model(annotation: Any) -> Any:
    """Unwrap ``Optional[X]``, ``list[X]``, ``X | str`` … to the first model inside."""
    if _is_model(annotation):
        return annotation
    if typing.get_origin(annotation) is not None:
        for argument in typing.get_args(annotation):
            found = _element_model(argument)
            if _is_model(found):
                return found
    return annotation
