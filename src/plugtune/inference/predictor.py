"""``Predictor``: the short Python entry for people embedding plugtune.

::

    from plugtune import Predictor

    p = Predictor("tiny://qwen2", adapter="out/", max_new_tokens=64)
    p("What is LoRA?", history=[("hi", "hello!")], system="be brief")   # -> str
    p(["q1", "q2"], histories=[None, [("hi", "hello!")]])              # -> [str, str]
    for piece in p.stream("Tell me a story"):                          # pieces of the answer
        print(piece, end="")

It builds a :class:`~plugtune.core.config.RunConfig` from its arguments, a
:class:`~plugtune.core.session.Session`, and loads the backend plugin (``transformers``
unless told otherwise); a batch of questions is one ``backend.generate`` call. torch is
imported only when the model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from plugtune.core.config import DEFAULT_MODEL, GenerationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message
from plugtune.core.session import Session

if TYPE_CHECKING:
    from plugtune.core.interfaces import Backend

# A chat history: (question, answer) pairs, OpenAI-style message dicts, Messages, or a
# Conversation (its messages are used).
History = Sequence[tuple[str, str] | Mapping[str, Any] | Message] | Conversation | None


class Predictor:
    """A loaded model that answers questions (see the module docstring).

    ``model``: a local path, hub id or ``tiny://<arch>``; ``adapter``: a PEFT adapter
    folder; ``template``: a template name (None: the model's own); ``backend``: a backend
    name, or ``{"name": ..., **options}``; ``generation``: ``GenerationConfig`` fields
    (``max_new_tokens``, ``temperature``, …), the defaults of every call, which may
    override them in turn. ``config``: a whole run config instead (its model, adapter,
    template and backend are used; ``generation`` still overrides its defaults).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        adapter: str | None = None,
        template: str | None = None,
        backend: str | Mapping[str, Any] = "transformers",
        *,
        config: RunConfig | None = None,
        session: Session | None = None,
        **generation: Any,
    ) -> None:
        from plugtune.inference.predict import load_backend

        if config is None:
            data: dict[str, Any] = {
                "model": {"path": model, "adapter": adapter},
                "template": template,
                "backend": dict(backend) if isinstance(backend, Mapping) else backend,
                "generation": generation,
            }
            try:
                config = RunConfig.model_validate(data)
            except ValidationError as error:
                raise ConfigError(f"Predictor: {error}") from None
        elif generation:
            config = config.model_copy(update={"generation": _params(config.generation,
                                                                        generation)})
        self.config = config
        self.session = session or Session.from_config(config)
        self.backend: Backend = load_backend(config, self.session)
        self.generation: GenerationConfig = config.generation

    def __call__(
        self,
        question: str | Sequence[str],
        history: History = None,
        system: str | None = None,
        *,
        histories: Sequence[History] | None = None,
        images: Sequence[Any] | None = None,
        **generation: Any,
    ) -> str | list[str]:
        """The answer to ``question`` (a str), or a list of answers to a list of questions
        (``histories``: one history per question), generated as one batch. ``images``
        (paths, ``data:`` URLs, bytes or PIL images) go with a single question, each
        where the question has an ``<image>`` placeholder, else in front of it."""
        params = _params(self.generation, generation)
        if isinstance(question, str):
            if histories is not None:
                raise TypeError("histories= is for a list of questions; use history=")
            conversation = self.conversation(question, history, system, images=images)
            return self.backend.generate([conversation], params)[0]
        if images is not None:
            raise TypeError("images= is for a single question")
        questions = list(question)
        if history is not None:
            raise TypeError("a list of questions takes histories= (one per question)")
        if histories is None:
            histories = [None] * len(questions)
        if len(histories) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(histories)} histories")
        if not questions:
            return []
        conversations = [self.conversation(q, h, system)
                         for q, h in zip(questions, histories, strict=True)]
        return self.backend.generate(conversations, params)

    def stream(
        self,
        question: str,
        history: History = None,
        system: str | None = None,
        *,
        images: Sequence[Any] | None = None,
        **generation: Any,
    ) -> Iterator[str]:
        """The answer to ``question`` in pieces as they are generated; they join to
        what calling the predictor returns (greedy decoding)."""
        conversation = self.conversation(question, history, system, images=images)
        yield from self.backend.stream(conversation, _params(self.generation, generation))

    def use_adapter(self, name: str | None) -> None:
        """Switch the backend's adapter (``"default"``: ``adapter``; None: the base model)."""
        self.backend.use_adapter(name)

    @staticmethod
    def conversation(question: str, history: History = None,
                     system: str | None = None, *,
                     images: Sequence[Any] | None = None) -> Conversation:
        """What the model is asked: ``system``, the ``history``, then ``question``
        (with ``images`` in ``meta``, as loaders keep them)."""
        messages: list[Message] = [Message("system", system)] if system else []
        if isinstance(history, Conversation):
            history = history.messages
        for index, turn in enumerate(history or ()):
            if isinstance(turn, Message):
                messages.append(turn)
            elif isinstance(turn, Mapping):
                role, content = turn.get("role"), turn.get("content")
                if not isinstance(role, str) or not isinstance(content, str):
                    raise ValueError(f"history[{index}]: a message needs a role and text content")
                messages.append(Message(role, content, name=turn.get("name")))
            elif isinstance(turn, (tuple, list)) and len(turn) == 2:
                asked, answered = turn
                messages += [Message("user", str(asked)), Message("assistant", str(answered))]
            else:
                raise ValueError(f"history[{index}]: expected a (question, answer) pair or a "
                                 f"message dict, got {type(turn).__name__}")
        if system and len(messages) > 1 and messages[1].role == "system":
            raise ValueError("system= given, but the history starts with a system message too")
        messages.append(Message("user", question))
        meta = {"images": list(images)} if images else {}
        return Conversation(tuple(messages), meta=meta, origin="predictor")


def _params(defaults: GenerationConfig, update: Mapping[str, Any]) -> GenerationConfig:
    if not update:
        return defaults
    try:
        return GenerationConfig.model_validate({**defaults.model_dump(), **update})
    except ValidationError as error:
        raise ConfigError(f"generation: {error}") from None
