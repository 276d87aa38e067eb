"""Retrieval-augmented generation: documents -> chunks -> a persistent chromadb store,
and retrieved passages -> the prompt (``plugtune rag``, the ``chroma`` retriever).

chromadb and sentence-transformers are imported only when a store is opened, so that
importing this package (and ``plugtune --help``) stays cheap.
"""
