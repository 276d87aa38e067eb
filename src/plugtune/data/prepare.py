"""From a run config to encoded splits: load, choose the template, encode.

What ``plugtune data preview`` / ``data stats`` show, and what trainers consume.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import DataConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Record
from plugtune.core.session import Session
from plugtune.data.datasets import LoadedData, RecordStreams, load_datasets
from plugtune.data.encoding import EncodedExample, EncodingOptions, EncodingReport
from plugtune.data.example_stream import encoded_examples
from plugtune.data.report import LoadReport
from plugtune.data.templates import resolve_template
from plugtune.data.tokenizer import load_tokenizer

SPLITS = ("train", "eval", "test")


@dataclass
class EncodedSplit:
    name: str
    records: list[Record]
    examples: list[EncodedExample]
    report: EncodingReport


@dataclass
class PreparedData:
    template: ChatTemplate
    tokenizer: Any
    loaded: LoadedData
    splits: dict[str, EncodedSplit]


def encoding_options(data: DataConfig) -> EncodingOptions:
    return EncodingOptions(cutoff_len=data.cutoff_len, train_on=data.train_on,
                           overflow=data.overflow, train_suffix=data.train_suffix)


def encode_records(
    records: Iterable[Record], template: ChatTemplate | None, tokenizer: Any, data: DataConfig,
    block_size: int | None = None,
) -> tuple[list[EncodedExample], EncodingReport]:
    """Texts become pretraining blocks of ``block_size`` (default ``cutoff_len``);
    everything else conversations (:func:`~plugtune.data.example_stream.encoded_examples`)."""
    report = EncodingReport()

    def chosen_template() -> ChatTemplate:
        if template is None:
            raise ConfigError("data: conversations need a chat template")
        return template

    examples = list(encoded_examples(records, tokenizer, chosen_template,
                                     encoding_options(data), block_size or data.cutoff_len,
                                     report))
    return examples, report


def prepare(config: RunConfig, session: Session, *, limit: int | None = None) -> PreparedData:
    """Load the config's data and encode each split (the first ``limit`` records each:
    then only those are read, unless a ``val_size`` split needs all of them)."""
    loaded = (load_datasets(config.data, session) if limit is None or config.data.val_size
              else _first_records(config.data, session, limit))
    tokenizer = load_tokenizer(config.model)
    template = resolve_template(session, config.template, tokenizer)
    splits = {}
    for name in SPLITS:
        records = getattr(loaded, name)[:limit]
        if records:
            examples, report = encode_records(records, template, tokenizer, config.data)
            report.warn()
            splits[name] = EncodedSplit(name, records, examples, report)
    return PreparedData(template, tokenizer, loaded, splits)


def _first_records(data: DataConfig, session: Session, limit: int) -> LoadedData:
    """The first ``limit`` records of each part, read from the streams (a preview of a
    large corpus reads a few lines of it, not all of it)."""
    streams, report = RecordStreams(data, session), LoadReport()
    train, evaluation, test = (list(itertools.islice(streams.records(name, report), limit))
                               for name in SPLITS)
    return LoadedData(train, evaluation, test, report)
