"""Built-in retrievers: ``chroma``, a store built by ``plugtune rag index``."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.retrievers.chroma import ChromaOptions, ChromaRetriever


@hookimpl
def register_retrievers(register: Any) -> None:
    register("chroma", ChromaRetriever, options=ChromaOptions)
