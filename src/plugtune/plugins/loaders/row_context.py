"""One source row seen through a format's logical column names.

Every loader reads its fields through :class:`RowContext`, which is why a loader never
raises anything but :class:`RecordError`: each accessor checks the type it returns and
names the row's own key in the error. What a loader does not take ends up in
``meta``, so no field of the source is silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugtune.core.records import RecordError
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, LoaderOptions

_MISSING = object()


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def describe(value: object) -> str:
    """A short description of a value for an error message: never a huge repr."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return type_name(value)


class RowContext:
    """A row, its origin, and the keys its logical columns map to."""

    def __init__(
        self,
        row: object,
        origin: str,
        options: LoaderOptions,
        keys: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        if not isinstance(row, Mapping):
            raise RecordError(origin, "", f"a record must be an object, got {type_name(row)}")
        self.row: Mapping[Any, Any] = row
        self.origin = origin
        self.options = options
        self._keys = keys if keys is not None else options.column_keys()
        self._taken: set[Any] = set()

    def error(self, field: str, problem: str) -> RecordError:
        return RecordError(self.origin, field, problem)

    def key(self, name: str) -> str:
        """The row key a logical column reads: the first candidate present, else the first."""
        candidates = self._keys.get(name, ())
        present = next((key for key in candidates if key in self.row), None)
        return present or (candidates[0] if candidates else name)

    def has(self, name: str) -> bool:
        """Whether the column is enabled and the row holds a non-null value for it."""
        value = self._lookup(name)
        return value is not _MISSING and value is not None

    def enabled(self, name: str) -> bool:
        return bool(self._keys.get(name))

    def take(self, name: str) -> Any:
        """The column's value (``None`` if absent or switched off), marked as used."""
        value = self._lookup(name)
        if value is _MISSING:
            return None
        self._taken.add(self.key(name))
        return value

    def require(self, name: str) -> Any:
        value = self.take(name)
        if value is None:
            raise self.error(self.key(name), "missing")
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string column; ``None`` when absent and not required."""
        value = self.require(name) if required else self.take(name)
        if value is None or isinstance(value, str):
            return value
        raise self.error(self.key(name), f"must be a string, got {type_name(value)}")

    def tools(self) -> tuple[Mapping[str, Any], ...]:
        """The tool specs, from a JSON string or a list, in OpenAI's ``{"type": "function",
        "function": spec}`` form (the form chat templates receive through ``tools=``)."""
        value = self.take("tools")
        field = self.key("tools")
        if value is None or (isinstance(value, str) and not value.strip()):
            return ()
        if isinstance(value, str):
            value = parse_json(value, origin=self.origin, field=field)
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list):
            raise self.error(field, f"must be a list of tool specs, got {type_name(value)}")
        specs = []
        for index, spec in enumerate(value):
            if not isinstance(spec, Mapping):
                raise self.error(f"{field}[{index}]", f"must be an object, got {type_name(spec)}")
            if "function" not in spec and not isinstance(spec.get("name"), str):
                raise self.error(f"{field}[{index}]", "a tool spec needs a 'name'")
            wrapped = "function" in spec
            specs.append(dict(spec) if wrapped else {"type": "function", "function": spec})
        return tuple(specs)

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Every field not taken, plus media paths and ``extra`` (a format's own fields)."""
        for name in MEDIA_COLUMNS:
            media = self._media(name) if name in self._keys else None
            if media is not None:
                extra.setdefault(name, media)
        meta = {key: value for key, value in self.row.items() if key not in self._taken}
        for key, value in extra.items():
            if key in meta:
                raise self.error(str(key), f"clashes with the column mapped to {key!r}")
            meta[key] = value
        return meta

    def _media(self, name: str) -> list[str] | None:
        """Media paths as a list, relative ones resolved against ``media_dir``."""
        value = self.take(name)
        field = self.key(name)
        if value is None:
            return None
        paths = [value] if isinstance(value, str) else value
        if not isinstance(paths, list):
            raise self.error(field, f"must be a path or a list of paths, got {type_name(value)}")
        resolved = []
        for index, path in enumerate(paths):
            if not isinstance(path, str) or not path.strip():
                raise self.error(f"{field}[{index}]", "must be a non-empty path")
            resolved.append(resolve_media(path, self.options.media_dir))
        return resolved

    def _lookup(self, name: str) -> Any:
        if not self._keys.get(name):
            return _MISSING
        return self.row.get(self.key(name), _MISSING)


def resolve_media(path: str, media_dir: str | None) -> str:
    """``path`` joined to ``media_dir`` unless it is absolute or a URL."""
    if media_dir is None or "://" in path or path.startswith("data:") or Path(path).is_absolute():
        return path
    return str(Path(media_dir) / path)


def parse_json(text: str, *, origin: str, field: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise RecordError(origin, field, f"not valid JSON: {error}") from None
