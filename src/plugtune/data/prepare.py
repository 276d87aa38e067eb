"""From a run config to encoded splits: load, choose the template, encode.

What ``plugtune data preview`` / ``data stats`` show, and what trainers consume.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import DataConfig, RunConfig
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record, Text
from plugtune.core.session import Session
from plugtune.data.datasets import LoadedData, load_datasets
from plugtune.data.encoding import (
    EncodedExample,
    EncodingOptions,
    EncodingReport,
    encode_conversations,
    encode_texts,
)
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


def as_conversations(records: Iterable[Record]) -> Iterator[Conversation]:
    """Conversations to encode for supervised views of any record: a preference pair
    gives its chosen and its rejected conversation, a KTO example its conversation."""
    for record in records:
        if isinstance(record, Conversation):
            yield record
        elif isinstance(record, Preference):
            yield record.prompt.answered(record.chosen)
            yield record.prompt.answered(record.rejected)
        elif isinstance(record, LabeledCompletion):
            yield record.conversation


def encode_records(
    records: Sequence[Record], template: ChatTemplate, tokenizer: Any, data: DataConfig
) -> tuple[list[EncodedExample], EncodingReport]:
    """Texts become pretraining blocks of ``cutoff_len``; everything else conversations."""
    texts = [record for record in records if isinstance(record, Text)]
    conversations = as_conversations(r for r in records if not isinstance(r, Text))
    examples, report = encode_conversations(conversations, template, tokenizer,
                                            encoding_options(data))
    if texts:
        blocks, text_report = encode_texts(texts, tokenizer, data.cutoff_len)
        examples += blocks
        report = _merged(report, text_report)
    return examples, report


def prepare(config: RunConfig, session: Session, *, limit: int | None = None) -> PreparedData:
    """Load the config's data and encode each split (the first ``limit`` records each)."""
    loaded = load_datasets(config.data, session)
    tokenizer = load_tokenizer(config.model)
    template = resolve_template(session, config.template, tokenizer)
    splits = {}
    for name in SPLITS:
        records = getattr(loaded, name)[:limit]
        if records:
            examples, report = encode_records(records, template, tokenizer, config.data)
            splits[name] = EncodedSplit(name, records, examples, report)
    return PreparedData(template, tokenizer, loaded, splits)


def _merged(first: EncodingReport, second: EncodingReport) -> EncodingReport:
    return EncodingReport(
        records=first.records + second.records,
        examples=first.examples + second.examples,
        tokens=first.tokens + second.tokens,
        label_tokens=first.label_tokens + second.label_tokens,
        truncated=first.truncated + second.truncated,
        truncated_answers=first.truncated_answers + second.truncated_answers,
        dropped=first.dropped + second.dropped,
    )
