"""Episodes played through a backend, turn by turn and batched across episodes: how
``predict`` and ``chat`` use the run's tools (training plays them on tokens, in the
GRPO trainer, with the same :class:`~plugtune.agents.episode.Episode`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plugtune.agents.environments import Episodes
from plugtune.agents.episode import Episode
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation
from plugtune.core.session import Session

# Answers a batch of conversations, each with its own reply (a backend's ``generate``).
Generate = Callable[[list[Conversation]], Sequence[str]]


def play(episodes: Sequence[Episode], generate: Generate) -> None:
    """Play every episode to its end: each round, the episodes still going answer in
    one batch, and those whose replies called tools go on."""
    going = list(episodes)
    while going:
        replies = generate([episode.conversation for episode in going])
        going = [e for e, reply in zip(going, replies, strict=True) if e.reply(str(reply))]


def backend_episodes(config: RunConfig, session: Session, backend: Any) -> Episodes | None:
    """The run's episodes on ``backend`` (None: the config has no ``agent`` section)."""
    if config.agent is None:
        return None
    template = getattr(backend, "template", None)
    if template is None:
        raise ConfigError("agent: this backend renders no chat template of plugtune's, so "
                          "it cannot read tool calls back; use transformers, vllm or llamacpp")
    return Episodes(config.agent, session, template)
