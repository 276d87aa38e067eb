"""RAG query latency on a 10k-chunk store: plugtune's ``chroma`` retriever against exact search.

All figures come from one run of this script, on one store:

- the store: ``--chunks`` synthetic chunks (pairs of ~100-character pieces of the tiny
  corpus in ``plugtune/tiny/corpus/``), indexed by ``DocumentStore.add`` (what
  ``plugtune rag index`` runs) with the packaged MiniLM; the indexing time is reported;
- queries: ``--queries`` questions (the first words of randomly drawn chunks, seeded),
  each asked of every contender in turn (interleaved, so that load hits all alike),
  after ``--warmup`` untimed ones;
- plugtune: ``ChromaRetriever.retrieve(question, k)``, what predict, chat --rag and serve
  call: embed the question, then chromadb's HNSW index;
- exact (the baseline): the same query embedding function, then brute-force cosine
  search with numpy over the store's own embeddings (read back from chromadb): one
  matrix-vector product and a top-k;
- search only: chromadb's query and the numpy search from the same query vector,
  embedded beforehand (untimed): the part where the two differ, without the embedding's
  noise on a busy machine.

Recall@k is the share of the exact top-k that the retriever also returned.

    python benchmarks/rag.py [--chunks 10000] [--queries 200] [--k 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from plugtune.plugins.retrievers.chroma import ChromaRetriever
from plugtune.rag.chunking import Chunk, split_text
from plugtune.rag.embeddings import embedding_function
from plugtune.rag.store import DocumentStore

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "src" / "plugtune" / "tiny" / "corpus"
RESULTS = REPO / "benchmarks" / "results" / "rag.md"
SEED = 0


def synthetic_chunks(count: int) -> list[Chunk]:
    """``count`` distinct chunks: each joins two corpus pieces, so there are enough."""
    pieces = [piece for file in sorted(CORPUS.glob("*.txt"))
              for piece in split_text(file.read_text(encoding="utf-8"), size=100, overlap=0)]
    rng = random.Random(SEED)
    pairs = rng.sample(range(len(pieces) ** 2), count)
    return [Chunk(f"{pieces[pair // len(pieces)]} {pieces[pair % len(pieces)]}",
                  source="synthetic", origin=f"synthetic[{index}]", index=index)
            for index, pair in enumerate(pairs)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    chunks = synthetic_chunks(args.chunks)
    with tempfile.TemporaryDirectory(prefix="bench-rag-") as folder:
        db = Path(folder) / "db"
        started = time.perf_counter()
        store = DocumentStore.open(db, create=True)  # loads the embedding model
        opened = time.perf_counter()
        store.add(chunks)
        indexed = time.perf_counter()
        size_mib = sum(f.stat().st_size for f in db.rglob("*") if f.is_file()) / 2**20
        print(f"indexed {store.count():,} chunks in {indexed - opened:.1f} s "
              f"({store.count() / (indexed - opened):,.0f} chunks/s; model load "
              f"{opened - started:.1f} s); store {size_mib:.0f} MiB", flush=True)

        stored = store.collection.get(include=["embeddings"])
        ids, matrix = stored["ids"], np.asarray(stored["embeddings"], dtype=np.float32)
        embed = embedding_function()
        retriever = ChromaRetriever(db, k=args.k)
        k = args.k

        def top_k(vector: np.ndarray) -> list[str]:
            scores = matrix @ vector  # normalized: cosine similarity
            top = np.argpartition(-scores, k)[:k]
            return [ids[i] for i in top[np.argsort(-scores[top])]]

        def exact(question: str, _vector: np.ndarray) -> list[str]:
            return top_k(np.asarray(embed([question])[0], dtype=np.float32))

        def plugtune(question: str, _vector: np.ndarray) -> list[str]:
            return [p.source for p in retriever.retrieve(question, k)]

        def hnsw(_question: str, vector: np.ndarray) -> Any:
            return store.collection.query(query_embeddings=[vector], n_results=k)

        contenders: dict[str, Callable[[str, np.ndarray], Any]] = {
            "plugtune chroma retriever": plugtune,
            "exact numpy search (baseline)": exact,
            "chromadb search only": hnsw,
            "numpy exact search only": lambda _question, vector: top_k(vector),
        }
        rng = random.Random(SEED + 1)
        questions = [" ".join(rng.choice(chunks).text.split()[:8])
                     for _ in range(args.warmup + args.queries)]
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        hits = 0
        origin_to_id = {chunk.origin: chunk.id for chunk in chunks}
        for number, question in enumerate(questions):
            names = list(contenders)
            if number % 2:
                names.reverse()
            found: dict[str, Any] = {}
            vector = np.asarray(embed([question])[0], dtype=np.float32)
            for name in names:
                began = time.perf_counter()
                found[name] = contenders[name](question, vector)
                if number >= args.warmup:
                    timings[name].append(time.perf_counter() - began)
            if number >= args.warmup:
                retrieved = {origin_to_id[origin] for origin in found["plugtune chroma retriever"]}
                hits += len(retrieved & set(found["exact numpy search (baseline)"]))
    recall = hits / (k * args.queries)
    table = report(timings, recall, args, indexed - opened, opened - started, size_mib,
                   (load_before, os.getloadavg()[0]))
    print("\n" + table)
    if not args.no_write:
        stamp = datetime.date.today().isoformat()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            f"# RAG query latency ({stamp})\n\n"
            f"`python benchmarks/rag.py --chunks {args.chunks} --queries {args.queries} "
            f"--k {args.k}`; see the script's docstring for what is compared.\n\n{table}\n",
            encoding="utf-8",
        )
        print(f"\nwritten: {RESULTS.relative_to(REPO)}")


def report(timings: dict[str, list[float]], recall: float, args: argparse.Namespace,
           index_s: float, load_s: float, size_mib: float,
           load: tuple[float, float]) -> str:
    rows = ["| contender | median ms | p95 ms | median vs baseline | p95 vs baseline |",
            "|---|---:|---:|---:|---:|"]
    baselines = {"exact numpy search (baseline)": list(timings)[:2],
                 "numpy exact search only": list(timings)[2:]}
    for baseline, names in baselines.items():
        base_median = statistics.median(timings[baseline])
        base_p95 = percentile(timings[baseline], 0.95)
        for name in names:
            median, p95 = statistics.median(timings[name]), percentile(timings[name], 0.95)
            rows.append(f"| {name} | {median * 1000:.2f} | {p95 * 1000:.2f} | "
                        f"{median / base_median:.2f}x | {p95 / base_p95:.2f}x |")
    import chromadb
    import sentence_transformers
    import torch

    return "\n".join([
        *rows, "",
        f"- Store: {args.chunks:,} chunks indexed in {index_s:.1f} s "
        f"({args.chunks / index_s:,.0f} chunks/s, embedding included; the model loaded in "
        f"{load_s:.1f} s before), {size_mib:.0f} MiB on disk.",
        "- The first two rows include the query embedding (what a caller waits for), the "
        "last two compare the searches alone (from the same query vector). A row timing "
        "the embedding alone measured 5x the full retriever: torch's threads start while "
        "the previous contender's BLAS or HNSW threads still spin, so it is not shown.",
        f"- Recall@{args.k} of the retriever against exact search: {recall:.3f}.",
        f"- {args.queries} queries after {args.warmup} untimed, contenders interleaved.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load[0]:.2f} before, {load[1]:.2f} "
        f"after. chromadb {chromadb.__version__}, sentence-transformers "
        f"{sentence_transformers.__version__}, torch {torch.__version__}.",
    ])


if __name__ == "__main__":
    main()
