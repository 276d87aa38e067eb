"""Errors a user can act on. The CLI prints their message, never a traceback."""

from __future__ import annotations


class PlugtuneError(Exception):
    """Base class: a problem in the user's config, data or plugins, not a bug in plugtune."""


class ConfigError(PlugtuneError):
    """A run config (file, overrides or a component's options) does not validate."""


class PluginError(PlugtuneError):
    """A plugin failed to import, raised in its hook, or clashed with another one."""


class UnknownComponentError(PlugtuneError, KeyError):
    """A config names a component that no loaded plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(PluginError):
    """Two plugins registered the same name and the config did not say which wins."""
