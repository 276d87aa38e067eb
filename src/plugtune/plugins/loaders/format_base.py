"""What every built-in format shares: validated options and a row context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record
from plugtune.core.validation import validate_model
from plugtune.plugins.loaders.format_options import OPENAI_TAGS, ChatOptions, LoaderOptions
from plugtune.plugins.loaders.messages import Turns
from plugtune.plugins.loaders.row_context import RowContext


class BaseLoader:
    """A format. ``Options`` is what the registry validates a config's options with; the
    constructor validates again, so a loader built directly by code is as safe."""

    name: ClassVar[str] = "loader"
    Options: ClassVar[type[LoaderOptions]] = LoaderOptions

    def __init__(self, **options: Any) -> None:
        self.options = validate_model(self.Options, options, where=f"loaders {self.name!r}")
        self._keys = self.options.column_keys()  # once, not per row

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        raise NotImplementedError

    def context(self, row: object, origin: str) -> RowContext:
        return RowContext(row, origin, self.options, self._keys)

    def turns(self, ctx: RowContext, field: str) -> Turns:
        tags = self.options.tag_set() if isinstance(self.options, ChatOptions) else OPENAI_TAGS
        return Turns(ctx, field, tags)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"
