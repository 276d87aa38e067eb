"""Chat with a run's adapter: one model loaded at a time (the last run chatted with),
answers streamed piece by piece as the backend generates them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.session import Session
from plugtune.webui.runs import RunStore
from plugtune.webui.tasks import use_config


class ChatModels:
    """Keeps the last run's :class:`~plugtune.inference.predictor.Predictor`; a lock
    makes concurrent chats take turns on it (a backend answers one stream at a time)."""

    def __init__(self, store: RunStore, session: Session) -> None:
        self.store = store
        self.session = session
        self._lock = threading.Lock()
        self._loaded: tuple[str, Any] | None = None

    def _predictor(self, name: str) -> Any:
        from plugtune.core.config import read_config_file
        from plugtune.inference.predictor import Predictor

        if self._loaded is None or self._loaded[0] != name:
            self._loaded = None  # the old model is freed before the new one loads
            data = read_config_file(use_config(self.store, name))
            config = RunConfig.model_validate(data)
            self._loaded = (name, Predictor(config=config, session=self.session))
        return self._loaded[1]

    def stream(self, name: str, message: str, history: Sequence[tuple[str, str]],
               system: str | None, max_new_tokens: int) -> Iterator[str]:
        """The answer to ``message`` after ``history``, in pieces. The model is loaded
        here, before the first piece, so that a run without an adapter is an error
        response rather than a stream that breaks off."""
        with self._lock:
            predictor = self._predictor(name)
        return self._answer(predictor, message, list(history), system or None,
                            max_new_tokens)

    def _answer(self, predictor: Any, message: str, history: list[tuple[str, str]],
                system: str | None, max_new_tokens: int) -> Iterator[str]:
        with self._lock:
            yield from predictor.stream(message, history=history, system=system,
                                        max_new_tokens=max_new_tokens)
