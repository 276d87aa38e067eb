"""A persistent chromadb collection of chunks: open or create it, add, query.

Chunk ids are ``<resolved file>#<chunk index>``, and adding a file first deletes what the
collection holds for it, so indexing a file again replaces its chunks (also when it got
shorter) instead of duplicating them. The collection measures cosine distance (0: same
direction, 1: unrelated, 2: opposite) and remembers the embedding model it was built
with: a query embedded by another model would give meaningless distances, so that is an
error, and leaving the model out means "the collection's own".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.core.errors import ConfigError
from plugtune.core.records import Passage
from plugtune.rag.embeddings import DEFAULT_EMBEDDING_MODEL, EXTRA_HINT, embedding_function

if TYPE_CHECKING:
    from plugtune.rag.chunking import Chunk

DEFAULT_COLLECTION = "plugtune"
EMBEDDING_MODEL_KEY = "plugtune_embedding_model"
COLLECTION_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
DEFAULT_BATCH_SIZE = 256


def check_collection_name(name: str) -> None:
    """chromadb's naming rule, said up front (its own error does not name the option)."""
    if not COLLECTION_NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"collection {name!r}: names are 3-512 characters of a-z, A-Z, 0-9, '.', '_' "
            "and '-', starting and ending with a letter or digit"
        )


class DocumentStore:
    """One collection of a chromadb folder, with the embedding function it was built with."""

    def __init__(self, collection: Any, embedding_model: str) -> None:
        self.collection = collection
        self.embedding_model = embedding_model

    @classmethod
    def open(cls, db: str | Path, collection: str = DEFAULT_COLLECTION,
             embedding_model: str | None = None, *, create: bool = False) -> DocumentStore:
        """The collection ``collection`` in the folder ``db``. ``create``: make the folder
        and collection when missing (indexing); otherwise both must exist (querying).
        ``embedding_model``: None for the collection's own (the default model for a new
        one)."""
        check_collection_name(collection)
        db = Path(db)
        if not create and not db.is_dir():
            raise ConfigError(f"{db}: no RAG store here; build one with "
                              f"`plugtune rag index DOCS --db {db}`")
        client = _client(db)
        existing = _existing(client, collection)
        if existing is None:
            if not create:
                names = sorted(item.name for item in client.list_collections())
                raise ConfigError(f"{db}: no collection {collection!r}; it holds "
                                  f"{', '.join(map(repr, names)) or 'none'}")
            model = embedding_model or DEFAULT_EMBEDDING_MODEL
            handle = client.create_collection(
                collection, embedding_function=embedding_function(model),
                metadata={"hnsw:space": "cosine", EMBEDDING_MODEL_KEY: model},
            )
            return cls(handle, model)
        built_with = (existing.metadata or {}).get(EMBEDDING_MODEL_KEY)
        if built_with is None:
            raise ConfigError(f"{db}: collection {collection!r} was not built by "
                              "`plugtune rag index` (it names no embedding model)")
        if embedding_model not in (None, built_with):
            raise ConfigError(
                f"{db}: collection {collection!r} was built with the embedding model "
                f"{built_with!r}, not {embedding_model!r}; leave embedding_model out to use "
                "the collection's own, or index into another collection"
            )
        handle = client.get_collection(collection, embedding_function=embedding_function(
            built_with))
        return cls(handle, built_with)

    def count(self) -> int:
        return int(self.collection.count())

    def add(self, chunks: Sequence[Chunk], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Replace each source's chunks by ``chunks``, in batches; returns how many."""
        for source in dict.fromkeys(chunk.source for chunk in chunks):
            self.collection.delete(where={"source": source})
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start:start + batch_size]
            self.collection.add(
                ids=[chunk.id for chunk in batch],
                documents=[chunk.text for chunk in batch],
                metadatas=[{"source": chunk.source, "origin": chunk.origin,
                            "index": chunk.index} for chunk in batch],
            )
        return len(chunks)

    def query(self, question: str, k: int) -> list[Passage]:
        """The ``k`` chunks nearest to ``question``, nearest first."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        result = self.collection.query(query_texts=[question], n_results=k,
                                       include=["documents", "metadatas", "distances"])
        return [
            Passage(text, metadata.get("origin") or metadata.get("source"), float(distance))
            for text, metadata, distance in zip(result["documents"][0], result["metadatas"][0],
                                                result["distances"][0], strict=True)
        ]


def _client(db: Path) -> Any:
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as error:
        raise ConfigError(f"RAG needs chromadb ({error}); {EXTRA_HINT}") from None
    # The same settings every time: chromadb refuses a second client on a path with others.
    return chromadb.PersistentClient(path=str(db), settings=Settings(anonymized_telemetry=False))


def _existing(client: Any, name: str) -> Any:
    """The collection without an embedding function (to read its metadata), or None."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except NotFoundError:
        return None
