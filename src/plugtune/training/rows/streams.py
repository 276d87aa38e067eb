"""A run's sft/pt rows as streams: records read, selected, encoded (and packed) a chunk
at a time, never a list of the corpus.

What ``plugtune data prepare`` writes to disk (:mod:`plugtune.training.rows.prepared`)
and what ``data.streaming`` trains on (:mod:`plugtune.training.rows.streaming`). The
rows are those :func:`plugtune.training.rows.encoded.encode_rows` lists for the same config, in
the same order: both run :func:`plugtune.data.example_stream.encoded_examples`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate, TrainingRun
from plugtune.core.records import Conversation, Record
from plugtune.data.datasets import RecordStreams
from plugtune.data.encoding import EncodingReport
from plugtune.data.example_stream import encoded_examples
from plugtune.data.report import LoadReport
from plugtune.data.splits import held_out
from plugtune.sdk.backends.vision import IMAGES_KEY

Select = Callable[[Iterable[Record]], Iterable[Record]]


@dataclass
class RowStreams:
    """How one run turns records into rows; :meth:`split_records` and :meth:`rows` may
    be called again (each call reads the files again)."""

    run: TrainingRun
    select: Select
    packing: bool
    block_size: int | None
    tokenizer: Any
    records: RecordStreams
    template: ChatTemplate | None = field(default=None, init=False)

    @classmethod
    def of(cls, run: TrainingRun, select: Select, *, packing: bool,
           block_size: int | None) -> RowStreams:
        from plugtune.data.tokenizer import load_tokenizer

        return cls(run, select, packing, block_size, load_tokenizer(run.config.model),
                   RecordStreams(run.config.data, run.session))

    def chat_template(self) -> ChatTemplate:
        """The run's template, resolved at the first conversation (raw text needs none;
        :attr:`template` stays None then)."""
        if self.template is None:
            from plugtune.data.templates import resolve_template

            self.template = resolve_template(self.run.session, self.run.config.template,
                                             self.tokenizer)
        return self.template

    def split_records(self, report: LoadReport | None = None) -> dict[str, Iterator[Record]]:
        """The train and eval records, read as they are used. A ``val_size`` split
        counts the training records first (one more pass) and holds out the records a
        list would: one byte per record, not the records, is kept."""
        data, streams = self.run.config.data, self.records
        if data.val_size <= 0:
            return {"train": streams.records("train", report),
                    "eval": streams.records("eval", report)}
        mask = held_out(sum(1 for _ in streams.records("train")), data.val_size, data.seed)
        train, held = streams.records("train", report), streams.records("train")
        return {"train": (r for r, out in zip(train, mask, strict=True) if not out),
                "eval": (r for r, out in zip(held, mask, strict=True) if out)}

    def rows(self, records: Iterable[Record], report: EncodingReport) -> Iterator[Any]:
        """Encoded examples (or packed rows) of ``records``, as they are taken."""
        from plugtune.data.prepare import encoding_options

        data = self.run.config.data
        examples = encoded_examples(_without_images(self.select(records)), self.tokenizer,
                                    self.chat_template, encoding_options(data),
                                    self.block_size or data.cutoff_len, report)
        if not self.packing:
            return examples
        from plugtune.data.packing import pack_stream

        return pack_stream(examples, data.cutoff_len)


def check_encoded(split: str, report: EncodingReport) -> None:
    """A split read to its end: warn about cuts and drops; a split whose records left
    nothing to train on (or a train split without records) is an error."""
    report.warn()
    if split == "train" and not report.records:
        raise ConfigError("data.train: no training records (name a dataset in data.train)")
    if report.records and not report.examples:
        raise ConfigError(f"data: nothing left to train on in {split} after encoding "
                          "(see the warnings)")


def _without_images(records: Iterable[Record]) -> Iterator[Record]:
    for record in records:
        if isinstance(record, Conversation) and record.meta.get(IMAGES_KEY):
            raise ConfigError(
                f"{record.origin}: a conversation with images; they are neither prepared "
                "on disk nor streamed (images load per batch): remove data.prepared and "
                "data.streaming")
        yield record
