"""Chat with a run's adapter: one model loaded at a time (the last run chatted with),
answers streamed piece by piece as the backend generates them; with RAG, the run's
``retriever`` adds its passages to each question, as ``plugtune chat --rag`` does, and
the answer names them (its sources) so the page can show what the model was given."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plugtune.core.config import GenerationConfig, RunConfig, read_config_file
from plugtune.core.records import Conversation
from plugtune.core.session import Session
from plugtune.webui.runs import RunStore
from plugtune.webui.tasks import use_config

if TYPE_CHECKING:
    from plugtune.rag.context import ContextInjector

# A source's text as the page shows it on hover: enough to recognise the passage.
SOURCE_PREVIEW = 200

@dataclass
class _Loaded:
    name: str
    config: RunConfig
    predictor: Any
    injector: ContextInjector | None = None


@dataclass
class Answer:
    """An answer's pieces as they are generated, and the passages RAG put in its prompt
    (``source``, ``distance``, the start of ``text``), known before the first piece."""

    pieces: Iterator[str]
    sources: list[dict[str, Any]] = field(default_factory=list)


class ChatModels:
    """Keeps the last run's :class:`~plugtune.inference.predictor.Predictor`; a lock
    makes concurrent chats take turns on it (a backend answers one stream at a time)."""

    def __init__(self, store: RunStore, session: Session) -> None:
        self.store = store
        self.session = session
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def _load(self, name: str, rag: bool) -> _Loaded:
        from plugtune.inference.predictor import Predictor

        if self._loaded is None or self._loaded.name != name:
            self._loaded = None  # the old model is freed before the new one loads
            config = RunConfig.model_validate(read_config_file(use_config(self.store, name)))
            self._loaded = _Loaded(name, config, Predictor(config=config, session=self.session))
        if rag and self._loaded.injector is None:
            from plugtune.rag.context import load_injector

            self._loaded.injector = load_injector(self._loaded.config, self.session)
        return self._loaded

    def stream(self, name: str, message: str, history: Sequence[tuple[str, str]],
               system: str | None, max_new_tokens: int | None = None, rag: bool = False
               ) -> Answer:
        """The answer to ``message`` after ``history``. The model (and the retriever)
        are loaded and the passages retrieved here, before the first piece, so that a run
        without an adapter or a store is an error response rather than a stream that
        breaks off. The history keeps the user's own words: each turn gets fresh
        passages."""
        with self._lock:
            loaded = self._load(name, rag)
        conversation = loaded.predictor.conversation(message, list(history), system or None)
        passages = []
        if rag and loaded.injector is not None:
            conversation, passages = loaded.injector.augment(conversation)
        limit = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
        params = GenerationConfig.model_validate(  # the run's own, unless the turn says
            {**loaded.predictor.generation.model_dump(), **limit})
        sources = [{"source": passage.source, "distance": passage.distance,
                    "text": passage.text[:SOURCE_PREVIEW]} for passage in passages]
        return Answer(self._answer(loaded.predictor, conversation, params), sources)

    def _answer(self, predictor: Any, conversation: Conversation,
                params: GenerationConfig) -> Iterator[str]:
        with self._lock:
            yield from predictor.backend.stream(conversation, params)
