"""What every ``plugtune`` command uses, built-in or a plugin's: the session the global
options (``--plugin``, ``--strict``) describe, and a run config read with its plugins.

A command plugin::

    import click
    from plugtune.sdk.cli import load_run, set_option

    @click.command("my-command")
    @click.argument("path")
    @set_option
    @click.pass_context
    def my_command(ctx, path, overrides):
        config, session = load_run(ctx, path, overrides)
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from plugtune.core.config import RunConfig
    from plugtune.core.session import Session

log = logging.getLogger(__name__)

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config value, e.g. --set training.learning_rate=5e-5 (repeatable).",
)


def adapter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--adapter PATH`` and ``--base``, for commands that answer with the config's model
    (``adapter`` and ``base`` arguments). Without either, the adapter ``plugtune train``
    left in ``output.dir`` answers (``plugtune.models.adapters``)."""
    command = click.option(
        "--base", is_flag=True,
        help="Answer with the base model, without the adapter this config trained.")(command)
    return click.option(
        "--adapter", default=None, metavar="PATH",
        help="Answer with this adapter [default: the one plugtune train left in "
        "output.dir, else model.adapter].")(command)


@dataclass
class CliState:
    """The global options, and the session they describe (built on first use)."""

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
    """The state of the ``plugtune`` invocation ``ctx`` belongs to."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def load_run(
    ctx: click.Context, path: str | Path | None, overrides: Sequence[str] = ()
) -> tuple[RunConfig, Session]:
    """The run config in ``path`` (plugtune's, or a format a ``config_readers`` plugin
    reads) with ``--set`` overrides, and the session that loads its plugins."""
    from plugtune.sdk.configs import load_config

    state = get_state(ctx)
    config = load_config(path, overrides, readers=state.session.registry("config_readers"))
    return config, state.session_for(config)


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
