"""A Session owns one plugin manager and its registries: what an embedding tool holds.
No global state: sessions with different plugins live side by side in one process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from plugtune.core.config import ComponentRef, RunConfig
from plugtune.core.errors import ConfigError, UnknownComponentError
from plugtune.core.plugins import (
    LoadedPlugins,
    PluginProblem,
    PluginSelection,
    collect,
    load_plugins,
)
from plugtune.core.registry import KINDS, Component, Registry
from plugtune.core.validation import did_you_mean


class Session:
    """Plugins and registries for one run or one embedding tool. ``plugins``: local ones
    (``file.py``, ``module:obj``, or objects with ``@hookimpl`` methods); ``selection``:
    which installed ones load (default: the environment); ``prefer``:
    ``{"<kind>.<name>": distribution}`` settles clashes; ``strict``: a broken plugin raises."""

    def __init__(self, *, plugins: Sequence[str | object] = (),
                 selection: PluginSelection | None = None,
                 prefer: Mapping[str, str] | None = None, strict: bool = False) -> None:
        self._loaded: LoadedPlugins = load_plugins(
            selection or PluginSelection.from_environment(), plugins, strict=strict)
        self._prefer = dict(prefer or {})
        self._strict = strict
        self._registries: dict[str, Registry] = {}

    @classmethod
    def from_config(
        cls, config: RunConfig, *, plugins: Sequence[str | object] = (), **kwargs: Any
    ) -> Session:
        """A session with the config's local plugins and clash preferences."""
        paths, prefer = config.plugins.paths, config.plugins.prefer
        return cls(plugins=[*paths, *plugins], prefer=prefer, **kwargs)

    @property
    def problems(self) -> list[PluginProblem]:
        """Every plugin that could not be used, once all registries are collected."""
        for kind in KINDS:
            self.registry(kind)
        return list(self._loaded.problems)

    def registry(self, kind: str) -> Registry:
        """The registry of one kind (``"rewards"``, ``"templates"``, …), collected on first use."""
        if kind not in KINDS:
            raise ConfigError(f"no component kind {kind!r}{did_you_mean(kind, KINDS)}")
        if kind not in self._registries:
            self._registries[kind] = collect(self._loaded, kind, self._prefer, strict=self._strict)
        return self._registries[kind]

    def components(self) -> Iterator[Component]:
        """Every registered component of every kind."""
        for kind in KINDS:
            yield from self.registry(kind)

    def component(self, kind: str, ref: ComponentRef | Mapping[str, Any] | str) -> Component:
        """The registered component ``ref`` names; an unknown name also says which
        plugins failed to load (one of them may have provided it)."""
        try:
            return self.registry(kind).get(ComponentRef.model_validate(ref).name)
        except UnknownComponentError as error:
            broken = "; ".join(str(p) for p in self._loaded.problems if p.broken)
            if not broken:
                raise
            raise UnknownComponentError(
                f"{error}; plugins that failed to load (one may provide it): {broken}") from None

    def build(self, kind: str, ref: ComponentRef | Mapping[str, Any] | str) -> Any:
        """The component ``ref`` names (``"name"``, ``{"name": …, **options}`` or a
        :class:`ComponentRef`), built with its options."""
        ref = ComponentRef.model_validate(ref)
        return self.component(kind, ref).build(ref.options)

    def validate(self, config: RunConfig) -> RunConfig:
        """Check every component the config names exists and accepts its options; return
        a copy with their options complete (defaults filled in: ``config show`` prints it)."""
        resolved = config.model_copy(deep=True)
        for key, kind, ref in resolved.component_refs():
            try:
                options = self.component(kind, ref).validate_options(ref.options)
            except (ConfigError, UnknownComponentError) as error:
                raise type(error)(f"{key}: {error}") from None
            if options is not None:
                for option, value in options.model_dump(mode="json").items():
                    setattr(ref, option, value)
        return resolved
