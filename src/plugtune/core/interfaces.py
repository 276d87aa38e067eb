"""The typed interfaces between plugin kinds: what a loader returns, what a template
produces, what a trainer is handed. Plugins implement these; they never import each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plugtune.core.records import Conversation, Record

if TYPE_CHECKING:
    from plugtune.core.config import RunConfig
    from plugtune.core.session import Session


@runtime_checkable
class Loader(Protocol):
    """A data format: turns one row of a source file into a canonical record.

    File reading, registries, mixing, splitting and the bad-record policy are shared
    (``plugtune.data``); a format only says what its rows mean. ``origin`` locates the
    row (``data.jsonl:12``) and must prefix every :class:`~plugtune.core.records.RecordError`.
    """

    def convert(self, row: Mapping[str, Any], origin: str) -> Record: ...


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a rendered conversation.

    ``trainable`` pieces are what the loss is computed on: an assistant answer and the
    end-of-turn token that makes generation stop. ``message`` is the index of the
    message the piece renders (``-1`` for a prefix or a generation prompt).
    """

    text: str
    trainable: bool = False
    message: int = -1


@runtime_checkable
class ChatTemplate(Protocol):
    """A model family's chat format.

    ``segments`` must join to exactly what the model's own Jinja chat template renders
    for the same conversation. ``stop_strings`` end an assistant turn (the end-of-turn
    token first); backends stop on them, and every trainable answer ends with one.
    """

    name: str
    stop_strings: tuple[str, ...]

    def segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment]: ...

    def render(self, conversation: Conversation, *, add_generation_prompt: bool = False) -> str: ...


@dataclass
class TrainingRun:
    """Everything a trainer is handed: the validated config, the session that resolves
    components, where to write, and whether to resume.

    ``resume`` is ``None`` (start afresh), ``"auto"`` (the newest complete checkpoint in
    ``output_dir``, if any) or a checkpoint folder. ``callbacks`` are built callback
    objects added to the config's own (``plugtune train --callback``).
    """

    config: RunConfig
    session: Session
    output_dir: Path
    resume: str | None = None
    callbacks: list[Any] = field(default_factory=list)


@runtime_checkable
class Trainer(Protocol):
    """A training algorithm (sft, pt, dpo, …): trains and writes its outputs.

    Returns the final metrics (what ``all_results.json`` holds).
    """

    def train(self, run: TrainingRun) -> dict[str, float]: ...


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from plugtune.core.config import GenerationConfig


class Answer(str):
    """Generated text that knows how many tokens were generated for it.

    Re-tokenizing the text does not give that number back: ids a random or small model
    emits may decode to text (partial UTF-8 as U+FFFD, say) that encodes to other ids.
    Token counts (a server's usage, a throughput benchmark) read ``tokens`` instead; to
    everything else an answer is the plain string.
    """

    tokens: int

    def __new__(cls, text: str, tokens: int) -> Answer:
        answer = super().__new__(cls, text)
        answer.tokens = tokens
        return answer


def joined(pieces: Sequence[str]) -> str:
    """Streamed pieces as one answer: an :class:`Answer` when every piece is one (each
    counting the tokens generated since the one before), else the plain text."""
    text = "".join(pieces)
    if all(isinstance(piece, Answer) for piece in pieces):
        return Answer(text, sum(piece.tokens for piece in pieces))  # type: ignore[attr-defined]
    return text


@runtime_checkable
class Backend(Protocol):
    """An inference engine: answers conversations with the run's model.

    The plugin's factory takes the ``backend:`` options and returns an unloaded backend;
    ``load(config, session)`` binds it to ``config.model`` (``adapter`` included),
    ``quantization`` and ``template``, and takes ``generation`` as the default ``params``.

    ``generate`` answers a batch, in order: each answer is the completion up to the first
    stop (eos, the template's stop strings and tokens, ``params.stop``), the stop removed.
    ``stream`` yields the answer to one conversation in pieces that join to that same text.
    Answers and pieces may be :class:`Answer` strings, which carry their token counts.
    ``use_adapter(name)`` switches among the loaded adapters (``None``: the base model).
    ``batch_size`` is how many conversations ``generate`` runs at once.
    """

    batch_size: int

    def load(self, config: RunConfig, session: Session) -> None: ...

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationConfig | None = None
    ) -> list[str]: ...

    def stream(
        self, conversation: Conversation, params: GenerationConfig | None = None
    ) -> Iterator[str]: ...

    def use_adapter(self, name: str | None) -> None: ...
