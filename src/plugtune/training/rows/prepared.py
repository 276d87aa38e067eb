"""``data.prepared``: a run's encoded rows, saved once and read back by later runs.

LLaMA-Factory's ``tokenized_path``: a folder that exists is read and nothing is loaded
or encoded again; a missing one is encoded, saved there, and read. Unlike there, reuse
is never silent: the folder's manifest records what made the rows (trainer, tokenizer
and template digests, every ``data`` setting), and a run that differs in one of them —
another tokenizer, template or trainer, or a ``data`` key it sets to another value — is
a ``ConfigError`` naming each field and both values. ``data`` keys the run leaves out
are the folder's. Under a launcher rank 0 encodes and writes; the other ranks wait for
the manifest and read the same files (the folder must be on a filesystem they all see).

Preparing streams (:mod:`plugtune.training.rows.streams`): records are read, encoded and
written to Arrow a chunk at a time, so its memory does not grow with the corpus.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate, TrainingRun
from plugtune.core.session import Session
from plugtune.data.encoding import EncodingReport
from plugtune.data.prepared import (
    MANIFEST,
    digest,
    load_rows,
    read_manifest,
    template_digest,
    tokenizer_digest,
    write_manifest,
    write_rows,
)
from plugtune.data.report import LoadReport
from plugtune.training.rows.streams import RowStreams, Select, check_encoded
from plugtune.training.run.causal_lm import EncodedRows
from plugtune.training.run.distributed import is_main_process, wait_for_file
from plugtune.training.run.train import DEFAULT_TRAINER, check_reads_prepared

log = logging.getLogger(__name__)

#: What ranks other than 0 wait for rank 0's encoding by default (transformers' ddp_timeout).
WAIT_S = 1800.0
#: ``data`` keys that say how rows are read, not what they are: no part of the identity.
READING_KEYS = {"prepared", "streaming", "buffer_size"}


def rows_in_folder(run: TrainingRun, select: Select, *, packing: bool,
                   block_size: int | None) -> EncodedRows:
    """The rows in ``data.prepared``, encoded and written first when it is not there."""
    config = run.config
    folder = Path(str(config.data.prepared))
    if not folder.exists():
        if is_main_process():
            streams = RowStreams.of(run, select, packing=packing, block_size=block_size)
            write_folder(folder, streams)
        else:
            timeout = float(getattr(config.training, "ddp_timeout", None) or WAIT_S)
            wait_for_file(folder / MANIFEST, timeout, "on several machines data.prepared "
                          "must be a folder all of them see (or prepare it first)")
    return load_folder(folder, run, block_size)


def prepare_folder(config: RunConfig, session: Session, folder: Path) -> dict[str, Any]:
    """What ``plugtune data prepare`` does: encode the run's rows into a new ``folder``
    exactly as its trainer would, and return the manifest."""
    if folder.exists():
        raise ConfigError(f"--out {folder}: exists; train from it (data.prepared), or remove "
                          "it to prepare it again")
    config = session.validate(config)
    config.data.prepared = str(folder)
    config.data.streaming = False  # the rows are the same; preparing always streams
    trainer = session.build("trainers", config.trainer or DEFAULT_TRAINER)
    check_reads_prepared(trainer, config)
    trainer.rows(TrainingRun(config=config, session=session, output_dir=folder))
    return read_manifest(folder)


def write_folder(folder: Path, streams: RowStreams) -> None:
    """Encode and write each split's rows, then the manifest, into a hidden folder, and
    rename it: a folder named ``folder`` is always complete (a crash leaves no
    half-written one)."""
    config = streams.run.config
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    partial.mkdir()
    try:
        splits = {}
        for name, records in streams.split_records(LoadReport()).items():
            report = EncodingReport()
            count = write_rows(partial / f"{name}.arrow", streams.rows(records, report))
            check_encoded(name, report)
            if count:
                splits[name] = _counts(count, report)
        identity = _identity(config, streams.block_size, streams.tokenizer, streams.template)
        write_manifest(partial, {
            **identity,
            "config_digest": digest(identity),
            "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "packed": streams.packing,
            "splits": splits,
        })
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("data.prepared: encoded rows saved to %s", folder)


def load_folder(folder: Path, run: TrainingRun, block_size: int | None) -> EncodedRows:
    """The folder's rows, memory-mapped, once the run agrees with its manifest."""
    from plugtune.data.tokenizer import load_tokenizer

    config = run.config
    manifest = read_manifest(folder)
    tokenizer = load_tokenizer(config.model)
    template = None
    if manifest.get("template") is not None:
        from plugtune.data.templates import resolve_template

        template = resolve_template(run.session, config.template, tokenizer)
    problems = mismatches(manifest, _identity(config, block_size, tokenizer, template),
                          config.data.model_fields_set - READING_KEYS)
    if problems:
        raise ConfigError(
            f"data.prepared: {folder} holds rows of another run:\n  " + "\n  ".join(problems)
            + "\nprepare a folder for this run (plugtune data prepare CONFIG --out DIR, or "
            "name a new data.prepared folder), or change the run to match")
    rows = load_rows(folder)
    log.info("data.prepared: %s (%s rows; prepared %s)", folder,
             ", ".join(f"{name} {len(split):,}" for name, split in rows.items()),
             manifest.get("prepared_at"))
    return EncodedRows({"eval": [], **rows}, tokenizer, template, packed=manifest["packed"])


def mismatches(manifest: dict[str, Any], run: dict[str, Any], data_keys: set[str]) -> list[str]:
    """``field: <the folder's> in the folder, <the run's> in this run`` for every field
    that differs: trainer, block size, tokenizer and template always; of ``data``, the
    keys the run sets (``data_keys``)."""
    fields: list[tuple[str, Any, Any]] = [
        (key, manifest.get(key), run[key]) for key in ("trainer", "block_size")]
    for key in ("tokenizer", "template"):  # by digest: a path may differ, the ids not
        fields.append((key, _described(manifest.get(key)), _described(run[key])))
    fields += [(f"data.{key}", manifest["data"].get(key), run["data"][key])
               for key in sorted(data_keys)]
    return [f"{name}: {have!r} in the folder, {want!r} in this run"
            for name, have, want in fields if have != want]


def _identity(config: RunConfig, block_size: int | None, tokenizer: Any,
              template: ChatTemplate | None) -> dict[str, Any]:
    """What the rows depend on, as the manifest records it."""
    return {
        "trainer": config.trainer.name if config.trainer else DEFAULT_TRAINER,
        "block_size": block_size,
        "tokenizer": {"model": config.model.path, "sha256": tokenizer_digest(tokenizer)},
        "template": None if template is None else {
            "name": template.name, "sha256": template_digest(template)},
        "data": config.data.model_dump(mode="json", exclude=READING_KEYS),
    }


def _described(source: dict[str, Any] | None) -> str | None:
    if source is None:
        return None
    name = source.get("model") or source.get("name")
    return f"{name} (sha256 {source['sha256'][:12]})"


def _counts(rows: int, report: EncodingReport) -> dict[str, Any]:
    """A split's rows and its encoding report, as the manifest keeps them (the first
    dropped records only: the list can be as long as the corpus)."""
    return {"rows": rows, "records": report.records, "examples": report.examples,
            "tokens": report.tokens, "label_tokens": report.label_tokens,
            "truncated": report.truncated, "truncated_answers": report.truncated_answers,
            "dropped": report.dropped_count, "dropped_first": report.dropped}
