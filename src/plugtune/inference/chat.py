"""``plugtune chat``: a conversation with the run's model in the terminal.

:class:`ChatSession` keeps the history (and an optional system prompt) and streams each
reply through the backend's ``stream``; :func:`run_chat` is the loop: a rich prompt on a
terminal, one line per turn from stdin otherwise (pipes, tests). Commands:

- ``/clear`` (or ``/reset``): forget the history (the system prompt stays);
- ``/system TEXT``: set the system prompt (``/system`` alone removes it);
- ``/adapter NAME|none``: switch adapters, when the backend has ``use_adapter``;
- ``/exit`` (or ``/quit``, end of input): leave.

With the config's ``agent`` section, the model may call its tools in each turn
(:mod:`plugtune.agents`): the calls and their results are shown before the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from plugtune.agents.environments import Episodes
from plugtune.core.errors import PlugtuneError
from plugtune.core.records import Conversation, Message

HELP = "/clear  /system TEXT  /adapter NAME|none  /exit"


@dataclass
class ChatSession:
    """The chat so far, and how to extend it by one streamed reply."""

    backend: Any
    system: str | None = None
    history: list[Message] = field(default_factory=list)
    params: Any = None  # GenerationConfig; None: the backend's defaults
    # RAG (``--rag``): adds retrieved passages to the prompt of each turn; the history
    # keeps the user's own words, so each turn gets fresh passages and no stale ones.
    augment: Callable[[Conversation], Conversation] | None = None
    # Tools (the config's ``agent`` section): each turn is an episode; the calls and their
    # results are written before the answer, and kept in the history.
    episodes: Episodes | None = None

    def conversation(self) -> Conversation:
        system = (Message("system", self.system),) if self.system else ()
        return Conversation((*system, *self.history), origin="chat")

    def reply(self, text: str, write: Callable[[str], None]) -> str:
        """Add the user's ``text``, stream the answer through ``write``, keep it."""
        self.history.append(Message("user", text))
        pieces: list[str] = []
        try:
            conversation = self.conversation()
            if self.augment is not None:
                conversation = self.augment(conversation)
            if self.episodes is not None:
                return self._episode(conversation, write)
            for piece in self.backend.stream(conversation, self.params):
                pieces.append(piece)
                write(piece)
        except BaseException:  # a failed turn leaves no half of itself in the history
            self.history.pop()
            raise
        answer = "".join(pieces)
        self.history.append(Message("assistant", answer))
        return answer

    def _episode(self, conversation: Conversation, write: Callable[[str], None]) -> str:
        """One turn with tools: played to its answer (whole replies, not streamed: a
        reply is a call or an answer only once it has ended)."""
        from plugtune.agents.playing import play

        episode = self.episodes.start(conversation, {})  # type: ignore[union-attr]
        play([episode], lambda batch: self.backend.generate(batch, self.params))
        for outcome in episode.outcomes:
            write(f"[{outcome.call.name}({json.dumps(outcome.call.arguments)}) -> "
                  f"{outcome.text}]\n")
        write(episode.answer)
        self.history += episode.turns
        return episode.answer

    def command(self, line: str) -> str | None:
        """Run a ``/command``; returns what to tell the user, or None to leave."""
        name, _, argument = line[1:].partition(" ")
        argument = argument.strip()
        if name in ("exit", "quit"):
            return None
        if name in ("clear", "reset"):
            self.history.clear()
            return "history cleared"
        if name == "system":
            self.system = argument or None
            return f"system prompt: {argument}" if argument else "system prompt removed"
        if name == "adapter":
            use_adapter = getattr(self.backend, "use_adapter", None)
            if use_adapter is None:
                return "this backend has no adapters"
            if not argument:
                return "usage: /adapter NAME|none"
            adapter = None if argument.lower() == "none" else argument
            try:
                use_adapter(adapter)
            except (PlugtuneError, KeyError, ValueError, RuntimeError) as error:
                return f"error: {error}"
            return f"adapter: {adapter or 'none (base model)'}"
        if name == "help":
            return HELP
        return f"unknown command /{name}; {HELP}"


def run_chat(session: ChatSession, lines: Iterable[str] | None, console: Any) -> None:
    """The loop: ``lines`` (stdin, not a terminal) or, when None, a rich prompt."""
    if lines is None:
        from rich.prompt import Prompt

        console.print(f"[dim]chat with the model; {HELP}[/dim]")

        def ask() -> Iterable[str]:
            while True:
                try:
                    yield Prompt.ask("[bold green]you[/bold green]", console=console)
                except (EOFError, KeyboardInterrupt):
                    return

        lines = ask()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("/"):
            message = session.command(line)
            if message is None:
                return
            console.print(f"[dim]{message}[/dim]", highlight=False)
            continue
        console.print("[bold blue]assistant[/bold blue]: ", end="")
        try:
            session.reply(line, lambda piece: console.print(piece, end="", markup=False,
                                                            highlight=False, soft_wrap=True))
        except PlugtuneError as error:
            console.print(f"\n[red]error:[/red] {error}", highlight=False)
            continue
        except KeyboardInterrupt:
            console.print("\n[dim](interrupted)[/dim]")
            continue
        console.print()
