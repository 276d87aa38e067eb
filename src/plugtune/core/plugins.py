"""Find plugins and collect what they register. Built-ins and third-party plugins load
the same way, through the ``plugtune`` entry-point group; local code as ``file.py`` or
``module:obj``. Each plugin is imported, and each hook called, on its own: one that fails
to import, implements an unknown hook or raises is reported by name while the others keep
working (``strict=True``: an error)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from plugtune.core import hookspecs
from plugtune.core.errors import PluginError
from plugtune.core.importing import import_object
from plugtune.core.registry import Component, PluginInfo, Registry, doc_summary

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
BUILTIN_DISTRIBUTION = "plugtune"
LOAD_ENV = "PLUGTUNE_LOAD_PLUGINS"
DISABLE_ENV = "PLUGTUNE_DISABLE_PLUGINS"
TRACE_ENV = "PLUGTUNE_TRACE"


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be used, and why."""

    plugin: PluginInfo
    message: str
    broken: bool = True  # False: it loaded, but a name it registers clashes

    def __str__(self) -> str:
        return f"{self.plugin.origin} ({self.plugin.name}): {self.message}"


def normalize(name: str) -> str:
    """PEP 503 form, so ``Plugtune_Example`` and ``plugtune-example`` are one name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PluginSelection:
    """Which installed plugins to load.

    ``only``: distributions to load besides the built-ins (``None`` loads every installed
    one; empty loads the built-ins alone). ``disabled``: distribution names, entry-point
    names or ``distribution:entry-point`` pairs to skip, built-ins included.
    """

    only: frozenset[str] | None = None
    disabled: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PluginSelection:
        def names(value: str) -> frozenset[str]:
            return frozenset(normalize(n) for n in value.split(",") if n.strip())

        only = environ.get(LOAD_ENV)
        return cls(
            only=None if only is None else names(only),
            disabled=names(environ.get(DISABLE_ENV, "")),
        )

    def wants(self, entry_point: metadata.EntryPoint, distribution: str) -> bool:
        dist = normalize(distribution)
        aliases = {dist, normalize(entry_point.name), f"{dist}:{normalize(entry_point.name)}"}
        if aliases & self.disabled:
            return False
        return self.only is None or dist == BUILTIN_DISTRIBUTION or dist in self.only


@dataclass
class LoadedPlugins:
    """A pluggy manager with every usable plugin registered, plus what went wrong."""

    manager: pluggy.PluginManager
    info: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def add(self, plugin: object, info: PluginInfo) -> None:
        """Register ``plugin`` unless it already is (modules re-imported by launchers)."""
        if self.manager.is_registered(plugin) or self.manager.get_plugin(info.name):
            return
        try:
            self.manager.register(plugin, name=info.name)
        except pluggy.PluginValidationError as error:
            self.problems.append(PluginProblem(info, f"invalid hook implementation: {error}"))
            return
        unknown = [c.name for c in self.manager.get_hookcallers(plugin) or [] if not c.has_spec()]
        if unknown:
            self.manager.unregister(plugin)
            hooks = ", ".join(sorted(unknown))
            self.problems.append(PluginProblem(info, f"implements unknown hook(s): {hooks}"))
            return
        self.info[info.name] = info


def load_plugins(
    selection: PluginSelection, local: Sequence[str | object] = (), *, strict: bool = False
) -> LoadedPlugins:
    """Import the selected entry-point plugins, then the ``local`` ones: code references
    (``file.py``, ``module:obj``) or plugin objects an embedding tool passes directly."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    found_builtins = False
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        found_builtins |= normalize(distribution) == BUILTIN_DISTRIBUTION
        if not selection.wants(entry_point, distribution):
            continue
        version = entry_point.dist.version if entry_point.dist else None
        info = PluginInfo(f"{distribution}:{entry_point.name}", distribution, version)
        _import_and_add(loaded, info, entry_point.load)
    if not found_builtins:
        builtins = PluginInfo(BUILTIN_DISTRIBUTION, BUILTIN_DISTRIBUTION)
        loaded.problems.append(PluginProblem(
            builtins, "plugtune's own entry points are missing; install it (pip install -e .)"))
    for plugin in local:
        if isinstance(plugin, str):
            _import_and_add(loaded, PluginInfo(name=plugin), lambda r=plugin: import_object(r))
        else:
            loaded.add(plugin, PluginInfo(name=f"{type(plugin).__name__}@{id(plugin):#x}"))
    if strict and loaded.problems:
        raise PluginError("broken plugins:\n" + "\n".join(f"  {p}" for p in loaded.problems))
    return loaded


def _import_and_add(loaded: LoadedPlugins, info: PluginInfo, importer: Callable[[], Any]) -> None:
    try:
        plugin = importer()
    except Exception as error:  # a broken plugin must not take the others down
        log.debug("plugin %s failed to import", info.name, exc_info=True)
        loaded.problems.append(PluginProblem(info, f"failed to import: {error!r}"))
        return
    loaded.add(plugin, info)


def collect(
    loaded: LoadedPlugins, kind: str, prefer: Mapping[str, str] | None = None, *,
    strict: bool = False,
) -> Registry:
    """Call every plugin's ``register_<kind>`` hook, each on its own, into a registry."""
    registry = Registry(kind, prefer)
    hook = getattr(loaded.manager.hook, f"register_{kind}")
    trace = bool(os.environ.get(TRACE_ENV))
    for implementation in hook.get_hookimpls():
        info = loaded.info[implementation.plugin_name]
        register = _registrar(registry, kind, info)
        arguments = {name: register for name in implementation.argnames}
        started = time.perf_counter()
        try:
            implementation.function(**arguments)
        except Exception as error:
            log.debug("hook register_%s of %s raised", kind, info.name, exc_info=True)
            problem = PluginProblem(info, f"register_{kind} raised {error!r}")
            if strict:
                raise PluginError(str(problem)) from error
            loaded.problems.append(problem)
        if trace:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("trace: %s register_%s (%.1f ms)", info.name, kind, elapsed)
    for name, claims in registry.conflicts().items():
        origins = ", ".join(claim.plugin.origin for claim in claims)
        message = f"{kind} {name!r} is also registered by: {origins}"
        if strict:
            raise PluginError(message)
        loaded.problems.append(PluginProblem(claims[-1].plugin, message, broken=False))
    return registry


def _registrar(registry: Registry, kind: str, plugin: PluginInfo) -> Callable[..., None]:
    """The ``register`` callable a hook receives, bound to the plugin that calls it."""

    def register(name: Any, component: object = None, *, options: Any = None,
                 doc: str | None = None) -> None:
        if kind == "commands" and component is None:  # register(click_command)
            name, component = getattr(name, "name", None), name
        if not isinstance(name, str) or not name or component is None:
            raise PluginError(f"register({name!r}, …): a {kind} needs a name and a component")
        summary = doc if doc is not None else doc_summary(component)
        registry.add(Component(kind, name, component, plugin, options, summary))

    return register

