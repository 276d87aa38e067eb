"""``plugtune chat``: talk to the config's model in the terminal (or through stdin)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from plugtune.sdk.cli import adapter_options, load_run, set_option


@click.command("chat")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@adapter_options
@click.option("--system", default=None, metavar="TEXT", help="The system prompt to start with.")
@click.option("--rag", is_flag=True,
              help="Add passages from the config's retriever to each question.")
@click.pass_context
def chat(ctx: click.Context, path: Path, overrides: tuple[str, ...], adapter: str | None,
         base: bool, system: str | None, rag: bool) -> None:
    """Chat with the config's backend; replies stream as they are generated.

    Commands: /clear or /reset (forget the history), /system TEXT, /adapter NAME|none, /exit.
    When stdin is not a terminal, each line of it is one turn. With the config's agent
    section, the model may call its tools; the calls are shown before each answer."""
    from rich.console import Console

    from plugtune.agents.playing import backend_episodes
    from plugtune.inference import load_backend
    from plugtune.inference.chat import ChatSession, run_chat
    from plugtune.models.adapters import describe_model, with_run_adapter

    run_config, session = load_run(ctx, path, overrides)
    run_config = with_run_adapter(run_config, adapter, base=base)
    augment = None
    if rag:
        from plugtune.rag.context import load_injector

        augment = load_injector(run_config, session)  # before the model: fail fast
    backend = load_backend(run_config, session)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:  # piped chats print replies only (scripts read them)
        click.echo(f"model: {describe_model(run_config)}", err=True)
    console = Console() if interactive else Console(file=sys.stdout, force_terminal=False,
                                                    width=10_000)
    episodes = backend_episodes(run_config, session, backend)
    run_chat(ChatSession(backend, system=system, augment=augment, episodes=episodes),
             None if interactive else sys.stdin, console)
