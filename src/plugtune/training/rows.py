"""From a run's config to the rows a causal-LM trainer batches.

Loads the data, keeps what the trainer learns from (``select``), encodes it with the
run's template (conversations) or into blocks (text), and packs conversation rows when
asked. Nothing is cut or dropped without the encoding report saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Record, Text
from plugtune.data.datasets import load_datasets
from plugtune.data.encoding import EncodedExample, EncodingReport, encode_texts
from plugtune.data.tokenizer import load_tokenizer
from plugtune.training.causal_lm import CausalLMData, pad_multiple
from plugtune.training.image_rows import (
    ImageCollator,
    check_expansion,
    first_with_images,
    image_processor_for,
    with_image_tokens,
)

Select = Callable[[Iterable[Record]], Iterable[Record]]


def encoded_rows(
    run: TrainingRun, select: Select, *, packing: bool = False, block_size: int | None = None
) -> tuple[CausalLMData, Any]:
    """Encoded (or packed) train and eval rows, their collator, and the tokenizer.

    ``block_size`` sets the length of raw-text blocks (default ``data.cutoff_len``).
    Conversations with images train a vision-language model through its processor
    (:mod:`plugtune.training.image_rows`).
    """
    from plugtune.training.collators import PackedCollator, PaddingCollator

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
    encoded = {
        name: _encode(records, template, tokenizer, run, block_size)
        for name, records in splits.items()
    }
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    collator: Any
    if with_images is not None:
        rows = encoded
        collator = ImageCollator(processor, pad_id, pad_multiple())
        check_expansion(with_image_tokens([with_images], processor)[0], template, tokenizer,
                        collator)
    elif packing:
        from plugtune.data.packing import pack_examples

        capacity = config.data.cutoff_len
        rows = {name: pack_examples(examples, capacity) for name, examples in encoded.items()}
        collator = PackedCollator(pad_id, pad_multiple())
    else:
        rows = encoded
        collator = PaddingCollator(pad_id, pad_multiple())
    data = CausalLMData(train=rows["train"], eval=rows["eval"], collator=collator,
                        processor=processor)
    return data, tokenizer


def _encode(
    records: Sequence[Record], template: Any, tokenizer: Any, run: TrainingRun,
    block_size: int | None,
) -> list[EncodedExample]:
    if not records:
        return []
    from plugtune.data.prepare import encode_records

    data = run.config.data
    texts = [record for record in records if isinstance(record, Text)]
    if block_size is not None and len(texts) == len(records):
        examples, report = encode_texts(texts, tokenizer, block_size)
    else:
        examples, report = encode_records(records, template, tokenizer, data)
    _check(report)
    return examples


def _check(report: EncodingReport) -> None:
    report.warn()
    if not report.examples:
        raise ConfigError("data: nothing left to train on after encoding (see the warnings)")
