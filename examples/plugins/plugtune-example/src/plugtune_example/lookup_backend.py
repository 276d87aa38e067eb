"""The ``lookup`` backend: an inference "model" that answers from a table.

A backend is what ``predict``, ``chat``, ``serve`` and ``eval``'s generation tasks
answer with. The shape is :class:`~plugtune.core.interfaces.Backend`: built unloaded
from the ``backend:`` options, ``load(config, session)`` binds it to a run, then
``generate`` answers a batch and ``stream`` yields pieces of one answer. This one
answers the last user message from ``answers`` (else ``default``), which makes it
useful in its own right: a fixed baseline to score metrics and prompts against, and a
stand-in model for testing a pipeline without loading one::

    backend:
      name: lookup
      answers: {"What is 2+2?": "4"}
      default: "I don't know."

It honours the generation parameters the way a model would: an answer is cut at the
first of ``params.stop`` (with :func:`plugtune.sdk.backends.decoding.cut_at_stop`, as
the built-in backends cut theirs), and ``max_new_tokens`` counts words, the "tokens"
of this model. ``adapters`` are further tables, switched with ``use_adapter(name)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.records import Conversation
from plugtune.sdk.backends.decoding import Answer, cut_at_stop

if TYPE_CHECKING:
    from plugtune import Session
    from plugtune.core.config import GenerationConfig, RunConfig

# Between a run of whitespace and the next word: pieces are "word " and join back exactly.
_WORD_START = re.compile(r"(?<=\s)(?=\S)")


class LookupOptions(BaseModel):
    """Options of the ``lookup`` backend."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str] = Field(
        default_factory=dict, description="The last user message (trimmed) -> the answer.")
    default: str = Field("I don't know.", description="The answer to anything else.")
    adapters: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Adapter name -> its own answers, for use_adapter.")
    batch_size: int = Field(8, gt=0, description="Conversations per generate call.")


def word_pieces(text: str) -> list[str]:
    """``text`` in pieces of one word and the whitespace after it (leading whitespace
    is a piece of its own); the pieces join to ``text``."""
    return [piece for piece in _WORD_START.split(text) if piece]


class LookupBackend:
    """Answers the last user message from a table of answers (a model-free baseline)."""

    Options: ClassVar[type[BaseModel]] = LookupOptions

    def __init__(self, answers: dict[str, str] | None = None, default: str = "I don't know.",
                 adapters: dict[str, dict[str, str]] | None = None, batch_size: int = 8) -> None:
        self.base = {key.strip(): value for key, value in (answers or {}).items()}
        self.default = default
        self.adapters = {name: {key.strip(): value for key, value in table.items()}
                         for name, table in (adapters or {}).items()}
        self.batch_size = batch_size
        self.table = self.base
        self.generation: GenerationConfig | None = None

    def load(self, config: RunConfig, session: Session) -> None:
        """Take the run's generation defaults; there is no model to load."""
        self.generation = config.generation

    def use_adapter(self, name: str | None) -> None:
        """Answer from the table of adapter ``name`` (None: the base ``answers``)."""
        if name is None:
            self.table = self.base
            return
        if name not in self.adapters:
            known = ", ".join(self.adapters) or "none"
            raise ConfigError(f"backend lookup: no adapter {name!r}; known: {known}")
        self.table = self.adapters[name]

    def generate(self, conversations: Sequence[Conversation],
                 params: GenerationConfig | None = None) -> list[str]:
        """One answer per conversation, in order."""
        return [self._answer(conversation, params) for conversation in conversations]

    def stream(self, conversation: Conversation,
               params: GenerationConfig | None = None) -> Iterator[str]:
        """The answer word by word; the pieces join to what ``generate`` answers."""
        for piece in word_pieces(self._answer(conversation, params)):
            yield Answer(piece, 1)

    def _answer(self, conversation: Conversation, params: GenerationConfig | None) -> Answer:
        params = params or self.generation
        if params is None:
            raise PlugtuneError("backend lookup: call load(config, session) before generating")
        question = next((message.content for message in reversed(conversation.messages)
                         if message.role == "user"), "")
        text = cut_at_stop(self.table.get(question.strip(), self.default), params.stop)
        pieces = word_pieces(text)[: params.max_new_tokens]
        return Answer("".join(pieces), len(pieces))
