"""The ``chroma`` retriever: passages from a persistent chromadb collection.

    retriever: {name: chroma, db: rag_store, k: 3, max_distance: 0.6}

The store opens on the first question, not when the plugin is built, so that
``plugtune config show`` and validation never load the embedding model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugtune.core.errors import ConfigError
from plugtune.core.records import Passage
from plugtune.rag.context import (
    DEFAULT_K,
    DEFAULT_MAX_DISTANCE,
    DEFAULT_PROMPT_TEMPLATE,
    check_prompt_template,
)
from plugtune.rag.store import DEFAULT_COLLECTION, DocumentStore, check_collection_name


class ChromaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db: Path = Field(description="The folder `plugtune rag index --db` wrote.")
    collection: str = DEFAULT_COLLECTION
    embedding_model: str | None = Field(
        None, description="None: the model the collection was built with.")
    k: int = Field(DEFAULT_K, ge=1, description="Passages retrieved per question.")
    max_distance: float = Field(
        DEFAULT_MAX_DISTANCE, ge=0, le=2,
        description="Cosine distance above which a passage is left out (0 same, 1 unrelated).")
    prompt_template: str = Field(
        DEFAULT_PROMPT_TEMPLATE,
        description="How the last user message is rewritten: {context} and {question}.")

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, name: str) -> str:
        try:
            check_collection_name(name)
        except ConfigError as error:  # pydantic reports ValueErrors at the option
            raise ValueError(str(error)) from None
        return name

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, template: str) -> str:
        return check_prompt_template(template)


class ChromaRetriever:
    """Passages from a store built by ``plugtune rag index``.

    ``retrieve(question, k)`` searches one collection; ``k``, ``max_distance`` and
    ``prompt_template`` tell :class:`~plugtune.rag.context.ContextInjector` how to use it."""

    def __init__(self, db: Path, collection: str = DEFAULT_COLLECTION,
                 embedding_model: str | None = None, k: int = DEFAULT_K,
                 max_distance: float = DEFAULT_MAX_DISTANCE,
                 prompt_template: str = DEFAULT_PROMPT_TEMPLATE) -> None:
        self.db, self.collection, self.embedding_model = db, collection, embedding_model
        self.k, self.max_distance, self.prompt_template = k, max_distance, prompt_template
        self._store: DocumentStore | None = None

    @property
    def store(self) -> DocumentStore:
        if self._store is None:
            self._store = DocumentStore.open(self.db, self.collection, self.embedding_model)
        return self._store

    def open(self) -> None:
        """Open the store and its embedding model now rather than on the first question."""
        _ = self.store

    def retrieve(self, question: str, k: int | None = None) -> list[Passage]:
        return self.store.query(question, k or self.k)
