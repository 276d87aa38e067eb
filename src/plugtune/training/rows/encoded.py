"""From a run's config to the rows a causal-LM trainer batches.

Loads the data, keeps what the trainer learns from (``select``), encodes it with the
run's template (conversations) or into blocks (text), and packs conversation rows when
asked. Nothing is cut or dropped without the encoding report saying so. With
``data.prepared`` the rows come from (or are saved to) a folder on disk instead
(:mod:`plugtune.training.rows.prepared`); with ``data.streaming`` they are encoded while
the model trains (:mod:`plugtune.training.rows.streaming`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugtune.core.config import DataConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Record, Text
from plugtune.data.datasets import load_datasets
from plugtune.data.encoding import EncodedExample, EncodingReport
from plugtune.data.tokenizer import load_tokenizer
from plugtune.training.rows.images import (
    checked_collator,
    first_with_images,
    image_processor_for,
    with_image_tokens,
)
from plugtune.training.rows.streams import RowStreams, Select, check_encoded
from plugtune.training.run.causal_lm import CausalLMData, EncodedRows, pad_multiple


def encoded_rows(
    run: TrainingRun, select: Select, *, packing: bool = False, block_size: int | None = None
) -> tuple[CausalLMData, Any]:
    """Encoded (or packed) train and eval rows, their collator, and the tokenizer.

    ``block_size`` sets the length of raw-text blocks (default ``data.cutoff_len``).
    Conversations with images train a vision-language model through its processor
    (:mod:`plugtune.training.rows.images`). With ``data.prepared`` the rows come from
    that folder, which is encoded and saved first when it is missing; with
    ``data.streaming`` they are streams, encoded as they are batched.
    """
    data = run.config.data
    if data.prepared is not None:
        from plugtune.training.rows.prepared import rows_in_folder

        encoded = rows_in_folder(run, select, packing=packing, block_size=block_size)
    elif data.streaming:
        from plugtune.training.rows.streaming import streamed_splits

        streams = RowStreams.of(run, select, packing=packing, block_size=block_size)
        encoded = EncodedRows(streamed_splits(streams), streams.tokenizer, packed=packing)
    else:
        encoded = encode_rows(run, select, packing=packing, block_size=block_size)
    return batched(encoded, data), encoded.tokenizer


def encode_rows(
    run: TrainingRun, select: Select, *, packing: bool = False, block_size: int | None = None
) -> EncodedRows:
    """Load the run's data and encode (and pack) its train and eval splits."""
    config = run.config
    loaded = load_datasets(config.data, run.session)
    tokenizer = load_tokenizer(config.model)
    splits = {name: list(select(getattr(loaded, name))) for name in ("train", "eval")}
    if not splits["train"]:
        raise ConfigError("data.train: no training records (name a dataset in data.train)")
    with_images = first_with_images(r for records in splits.values() for r in records)
    processor = image_processor_for(config.model, tokenizer, with_images)
    if processor is not None:
        splits = {name: with_image_tokens(records, processor) for name, records in splits.items()}
    if with_images is not None and packing:
        raise ConfigError("data.packing: rows with images are not packed (their image tokens "
                          "are expanded per batch); set data.packing: false")
    template = None
    if any(not isinstance(r, Text) for records in splits.values() for r in records):
        from plugtune.data.templates import resolve_template

        template = resolve_template(run.session, config.template, tokenizer)
    encoded = {name: _encode(records, template, tokenizer, run, block_size, name)
               for name, records in splits.items()}
    rows: dict[str, Sequence[Any]] = {name: examples for name, (examples, _) in encoded.items()}
    if packing:
        from plugtune.data.packing import pack_examples

        rows = {name: pack_examples(examples, config.data.cutoff_len)
                for name, examples in rows.items()}
    return EncodedRows(rows, tokenizer, template,
                       reports={name: report for name, (_, report) in encoded.items()},
                       packed=packing, processor=processor, with_images=with_images)


def batched(encoded: EncodedRows, data: DataConfig) -> CausalLMData:
    """The rows with the collator that batches them: images expanded per batch (sized by
    ``data``'s pixel budget), packed rows kept apart, or right-padded examples."""
    from plugtune.training.rows.collators import PackedCollator, PaddingCollator, pad_id

    collator: Any
    if encoded.with_images is not None:
        first = with_image_tokens([encoded.with_images], encoded.processor)[0]
        collator = checked_collator(encoded.processor, encoded.tokenizer, encoded.template,
                                    first, data)
    elif encoded.packed:
        collator = PackedCollator(pad_id(encoded.tokenizer), pad_multiple())
    else:
        collator = PaddingCollator(pad_id(encoded.tokenizer), pad_multiple())
    return CausalLMData(train=encoded.rows["train"], eval=encoded.rows.get("eval", []),
                        collator=collator, processor=encoded.processor)


def _encode(
    records: Sequence[Record], template: Any, tokenizer: Any, run: TrainingRun,
    block_size: int | None, split: str,
) -> tuple[list[EncodedExample], EncodingReport]:
    if not records:
        return [], EncodingReport()
    from plugtune.data.prepare import encode_records

    examples, report = encode_records(records, template, tokenizer, run.config.data, block_size)
    check_encoded(split, report)
    return examples, report
