"""What the CLI's commands share: the global options and a lazily built Session."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from plugtune.core.config import RunConfig
    from plugtune.core.session import Session

log = logging.getLogger(__name__)


@dataclass
class CliState:
    plugin_refs: tuple[str, ...] = ()
    strict: bool = False
    _session: Session | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        """A session with the installed plugins and ``--plugin`` ones, built on first use."""
        if self._session is None:
            from plugtune.core.session import Session

            self._session = self._report(Session(plugins=self.plugin_refs, strict=self.strict))
        return self._session

    def session_for(self, config: RunConfig) -> Session:
        """A session that also loads the config's local plugins and clash preferences."""
        from plugtune.core.session import Session

        self._session = self._report(
            Session.from_config(config, plugins=self.plugin_refs, strict=self.strict)
        )
        return self._session

    @staticmethod
    def _report(session: Session) -> Session:
        for problem in session.problems:
            log.warning("plugin not loaded: %s", problem)
        return session


def get_state(ctx: click.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def remember_option(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Store ``--plugin`` / ``--strict`` as soon as they are parsed.

    They are eager: click resolves subcommands (plugin commands included) and prints
    ``--help`` before the group's callback runs, and both need the plugins loaded.
    """
    state = get_state(ctx)
    if param.name == "plugin_refs":
        state.plugin_refs = tuple(value or ())  # type: ignore[arg-type]
    elif param.name == "strict":
        state.strict = bool(value)
