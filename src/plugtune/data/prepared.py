"""Encoded rows on disk: the folder ``plugtune data prepare`` writes and ``data.prepared``
reads.

Encoding a large corpus at the start of every run, in every process of a multi-process
run, costs minutes to hours; the rows it produces depend only on the data, the tokenizer,
the template and a few settings. So they are saved once, a split per Arrow file
(``train.arrow``, ``eval.arrow``: the IPC stream format ``datasets`` writes, with its
features), written :data:`WRITE_BATCH` rows at a time as they are encoded, so preparing
a corpus never holds it in memory; ``datasets.Dataset.from_file`` memory-maps them: a
run reads the rows it batches, not a copy of the corpus in Python lists. Beside them,
``manifest.json`` says what made them (see :mod:`plugtune.training.rows.prepared`, which
checks a run against it). This module is the format only: rows in and out, and the
digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate, WritesJinja
from plugtune.core.records import Conversation, Message
from plugtune.data.encoding import EncodedExample, batches
from plugtune.data.packing import PackedRow

MANIFEST = "manifest.json"
#: The folder's layout; a folder of another is prepared again, never guessed at.
#: (1: a ``save_to_disk`` DatasetDict, written from lists in memory.)
FORMAT = 2
#: Rows buffered before they are written: a few MB, whatever the corpus.
WRITE_BATCH = 1000
_ID_COLUMNS = {
    EncodedExample: ("input_ids", "labels"),
    PackedRow: ("input_ids", "labels", "position_ids", "sequence_ids"),
}
_PROBES = (
    Conversation((Message("user", "Hi"), Message("assistant", "Hello!"),
                  Message("user", "你好"), Message("assistant", "你好！"))),
    Conversation((Message("system", "Be brief."), Message("user", "Hi"),
                  Message("assistant", "Hello."))),
)


class ArrowRows(Sequence[Any]):
    """A memory-mapped split read back as the rows the collators take (encoded
    examples or packed rows), one Arrow read per row or per batch."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.row_type = PackedRow if "sequence_ids" in dataset.column_names else EncodedExample

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.__getitems__(range(*index.indices(len(self))))
        return self.row_type(**self.dataset[index])

    def __getitems__(self, indices: Iterable[int]) -> list[Any]:
        """A whole batch in one read (torch's DataLoader asks for it when it exists)."""
        columns = self.dataset[list(indices)]
        names = list(columns)
        return [self.row_type(**dict(zip(names, values, strict=True)))
                for values in zip(*columns.values(), strict=True)]


def write_rows(path: Path, rows: Iterable[Any]) -> int:
    """Write ``rows`` (all of one type: encoded examples or packed rows) to the Arrow
    file ``path`` as they come, :data:`WRITE_BATCH` at a time; how many were written.
    No rows, no file."""
    import pyarrow as pa

    writer: Any = None
    count = 0
    try:
        for batch in batches(rows, WRITE_BATCH):
            if writer is None:
                schema = _schema(type(batch[0]))
                writer = pa.ipc.new_stream(str(path), schema)
            writer.write_batch(pa.record_batch(
                [[getattr(row, name) for row in batch] for name in schema.names], schema=schema))
            count += len(batch)
    finally:
        if writer is not None:
            writer.close()
    return count


def _schema(row_type: type) -> Any:
    """The Arrow schema of a row type, carrying the ``datasets`` features that say so."""
    from datasets import Features, List, Value

    features = {column: List(Value("int32")) for column in _ID_COLUMNS[row_type]}
    if row_type is EncodedExample:
        features["origin"] = Value("string")
    return Features(features).arrow_schema


def load_rows(folder: Path) -> dict[str, ArrowRows]:
    """The splits under ``folder``, memory-mapped."""
    from datasets import Dataset

    return {path.stem: ArrowRows(Dataset.from_file(str(path)))
            for path in sorted(folder.glob("*.arrow"))}


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder``'s manifest; a folder without one (or of another format) is an error
    naming it: a folder is never taken for prepared rows on trust."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"data.prepared: {folder} has no {MANIFEST}: not a folder plugtune prepared "
            "(a LLaMA-Factory tokenized_path folder is not read either); point "
            "data.prepared at a new folder, a run then encodes and saves its rows there"
        ) from None
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"data.prepared: cannot read {path}: {error}") from None
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"data.prepared: {path} has format {manifest.get('format')!r}, "
                          f"this plugtune reads {FORMAT}; prepare the folder again")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps({"format": FORMAT, **manifest}, indent=2, ensure_ascii=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")


def digest(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """The Rust tokenizer's whole definition (normalizer, pre-tokenizer, vocabulary,
    merges, added tokens) and the special tokens encoding appends: equal digests give
    equal ids for every text."""
    return digest({"tokenizer": tokenizer.backend_tokenizer.to_str(),
                   "bos": tokenizer.bos_token, "eos": tokenizer.eos_token})


def template_digest(template: ChatTemplate) -> str:
    """What the template renders and trains on for probe conversations, plus the digest
    of the Jinja it writes when it writes one (:mod:`plugtune.sdk.templates.matching`):
    two templates with one digest encode conversations alike."""
    from plugtune.sdk.templates.matching import digest_chat_template

    jinja = template.jinja() if isinstance(template, WritesJinja) else None
    return digest({
        "jinja": digest_chat_template(jinja) if jinja else None,
        "segments": list(_probe_segments(template)),
    })


def _probe_segments(template: ChatTemplate) -> Iterator[list[tuple[str, bool, int]]]:
    for conversation in _PROBES:
        if conversation.system is not None and getattr(template, "supports_system", True) is False:
            continue
        segments = template.segments(conversation)
        yield [(segment.text, segment.trainable, segment.message) for segment in segments]
