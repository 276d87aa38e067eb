"""Named components of one kind and the rules for finding them. Registration is cheap (a
name, the component or a ``"module:attr"`` string imported on first use, its plugin);
lookup suggests the closest name for an unknown one, and two plugins claiming one name
is an error naming both, unless the config says which wins."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from plugtune.core.errors import (
    ConfigError,
    DuplicateComponentError,
    PluginError,
    PlugtuneError,
    UnknownComponentError,
)
from plugtune.core.importing import import_object, is_code_reference, qualified_name
from plugtune.core.validation import did_you_mean, validate_model

# One per hook of :mod:`plugtune.core.hookspecs`, in the order listings show them.
KINDS = (
    "loaders", "templates", "trainers", "peft", "rewards", "environments", "backends",
    "metrics", "benchmarks", "retrievers", "callbacks", "commands", "exporters",
    "config_readers",
)

# Components of these kinds are factories: building one calls it (with its options).
# Rewards and metrics are plain functions unless they declare options; commands are
# click commands.
FACTORY_KINDS = frozenset(KINDS) - {"rewards", "metrics", "commands"}


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, for messages and ``plugtune plugins list``."""

    name: str
    distribution: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        return self.distribution or self.name


LOCAL_CODE = PluginInfo(name="local code")


@dataclass(eq=False)
class Component:
    """One registered thing: a reward function, a template class, a trainer factory, …"""

    kind: str
    name: str
    target: object
    plugin: PluginInfo
    options: type[BaseModel] | None = None
    doc: str = ""
    _loaded: Any = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """What makes two registrations "the same object" (re-imports included)."""
        return self.target if isinstance(self.target, str) else qualified_name(self.target)

    def load(self) -> Any:
        """The component itself, importing it if it was registered as a string."""
        if self._loaded is None:
            target = self.target
            self._loaded = import_object(target) if isinstance(target, str) else target
        return self._loaded

    @cached_property
    def options_model(self) -> type[BaseModel] | None:
        """The options model given at registration, else the component's ``Options``
        (a lazily registered component is imported to find it: options are checked only
        when a config names the component)."""
        if self.options is not None:
            return self.options
        declared = getattr(self.load(), "Options", None)
        return declared if inspect.isclass(declared) and issubclass(declared, BaseModel) else None

    def validate_options(self, options: Mapping[str, Any]) -> BaseModel | None:
        """Check the config's options for this component against its options model."""
        where = f"{self.kind} {self.name!r}"
        if self.options_model is None:
            if options:
                raise ConfigError(f"{where} takes no options, got: {', '.join(options)}")
            return None
        return validate_model(self.options_model, options, where=where)

    def build(self, options: Mapping[str, Any] | None = None) -> Any:
        """What a run uses: the factory called with validated options, or, for a plain
        function without options (a reward, a metric, a command), the function itself."""
        validated = self.validate_options(options or {})
        if validated is not None:
            return self.load()(**dict(validated))
        return self.load()() if self.kind in FACTORY_KINDS else self.load()


def doc_summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring on one line (what listings show)."""
    doc = inspect.getdoc(obj) if not isinstance(obj, str) else None
    return " ".join(doc.strip().split("\n\n")[0].split()) if doc else ""


class Registry:
    """The components of one kind, by name."""

    def __init__(self, kind: str, prefer: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._claims: dict[str, list[Component]] = {}
        self._prefer = {
            key.removeprefix(f"{kind}."): value for key, value in (prefer or {}).items()
        }

    def add(self, component: Component) -> None:
        """Record a claim; the same object registered again (re-imported) is ignored."""
        claims = self._claims.setdefault(component.name, [])
        for existing in claims:
            same_origin = existing.plugin.origin == component.plugin.origin
            if existing.target is component.target or (
                same_origin and existing.identity == component.identity
            ):
                return
        claims.append(component)

    def names(self) -> list[str]:
        return sorted(self._claims)

    def __contains__(self, name: object) -> bool:
        return name in self._claims

    def __iter__(self) -> Iterator[Component]:
        """Every claim, conflicting ones included (for listings)."""
        for name in self.names():
            yield from self._claims[name]

    def __len__(self) -> int:
        return len(self._claims)

    def conflicts(self) -> dict[str, list[Component]]:
        """Names claimed by more than one plugin and not settled by a preference."""
        return {name: claims for name, claims in self._claims.items()
                if len(claims) > 1 and name not in self._prefer}

    def get(self, name: str) -> Component:
        """The component called ``name``, or a code reference like ``my_file.py:reward``."""
        if name not in self._claims and is_code_reference(name):
            return self._from_code(name)
        claims = self._claims.get(name)
        if not claims:
            raise UnknownComponentError(self._unknown_message(name))
        if len(claims) == 1:
            return claims[0]
        return self._settle(name, claims)

    def _settle(self, name: str, claims: list[Component]) -> Component:
        origins = [claim.plugin.origin for claim in claims]
        preferred = self._prefer.get(name)
        if preferred is None:
            raise DuplicateComponentError(
                f"{self.kind} {name!r} is registered by several plugins: {', '.join(origins)}. "
                f"Choose one in the config: plugins: {{prefer: {{{self.kind}.{name}: "
                f"{origins[0]}}}}}")
        for claim in claims:
            if preferred in (claim.plugin.origin, claim.plugin.name):
                return claim
        raise DuplicateComponentError(f"plugins.prefer picks {preferred!r} for {self.kind} "
                                      f"{name!r}, but only {', '.join(origins)} register it")

    def _unknown_message(self, name: str) -> str:
        singular = self.kind.removesuffix("s")
        known = ", ".join(self.names()) or "none"
        return f"no {singular} named {name!r}{did_you_mean(name, self.names())}; known: {known}"

    def _from_code(self, reference: str) -> Component:
        try:
            target = import_object(reference)
        except PlugtuneError:
            raise
        except Exception as error:
            raise PluginError(f"{reference}: failed to import: {error!r}") from error
        return Component(self.kind, reference, target, LOCAL_CODE, doc=doc_summary(target))
