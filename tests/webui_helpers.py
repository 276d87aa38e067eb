"""What the web UI tests share: a config that trains tiny://qwen2 in seconds, a small
RAG store, and killing whatever processes a test's runs left (waiting on a condition:
:func:`tests.helpers.wait_for`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import REPO

TINY_DATA = str(REPO / "examples" / "data" / "tiny_alpaca.jsonl")
T = TypeVar("T")
RAG_DOCS = {
    "volcano.md": "Mauna Loa on Hawaii is the largest active volcano on Earth.",
    "bread.txt": "Sourdough bread rises thanks to wild yeast and lactic acid bacteria.",
}


def tiny_config(**training: Any) -> dict[str, Any]:
    """A run of a few steps on the example data, with a test split and a metric."""
    return {
        "data": {"train": [TINY_DATA], "test": [TINY_DATA], "max_samples": 16},
        "training": {"max_steps": 4, "logging_steps": 1, "per_device_train_batch_size": 4,
                     **training},
        "evaluation": {"metrics": ["exact_match"]},
        "generation": {"max_new_tokens": 8},
    }


def rag_store(db: Path) -> Path:
    """A real chromadb store of :data:`RAG_DOCS` at ``db`` (embedded by the packaged
    MiniLM, as ``plugtune rag index`` does; the documents beside it); returns ``db``."""
    from plugtune.rag.chunking import chunk_documents, document_files, read_documents
    from plugtune.rag.store import DocumentStore

    docs = db.with_name(f"{db.name}-docs")
    docs.mkdir(parents=True)
    for name, text in RAG_DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    files = document_files([docs])
    DocumentStore.open(db, create=True).add(
        chunk_documents(document for file in files for document in read_documents(file)))
    return db


def logged_steps(run: Path) -> list[int]:
    """The steps of the loss entries in the run's ``trainer_log.jsonl`` so far (read as
    the page reads it: a line still being written waits, a missing file is none)."""
    from plugtune.webui.tailing import read_from

    return [entry["step"] for entry in read_from(run / "trainer_log.jsonl").entries
            if "loss" in entry]


def kill_jobs(runs_dir: Path) -> None:
    """SIGKILL the process group of every job record under ``runs_dir``."""
    for record in runs_dir.glob(".webui/*/webui_*.json"):
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
