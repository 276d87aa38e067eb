"""Conversations → ``input_ids`` / ``attention_mask`` / ``labels``, prompts masked.

The template renders each conversation as segments whose trainable spans are known
in characters. All rendered strings then go through the Rust tokenizer in one batch,
and a token is trained on when its first character lies in a trainable span (found
with ``char_to_token`` at the span ends, so no per-token offsets are materialised in
Python). That is one tokenizer call per batch instead of one ``apply_chat_template``
per record (or one per turn, as incremental masking needs), and it cannot drift from
the rendering: the ids are those of the rendered string.

Both encoders take a batch at a time (:class:`ConversationBatches`, :class:`TextBlocks`):
a stream of records is encoded in constant memory (:mod:`plugtune.data.example_stream`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from plugtune.core.interfaces import ChatTemplate, Segment
from plugtune.core.records import Conversation, Text
from plugtune.data.turn_truncation import cut_turns
from plugtune.sdk.backends.vision import IMAGES_KEY

log = logging.getLogger(__name__)
T = TypeVar("T")

IGNORE_INDEX = -100
BATCH_SIZE = 1024
#: Dropped records named in a report (the count covers them all): a corpus may drop millions.
DROPPED_KEPT = 20


@dataclass(frozen=True, slots=True)
class EncodedExample:
    """One row to train on. ``images``: its conversation's images as the record gave them
    (paths, not pixels): a vision-language run loads them per batch
    (:mod:`plugtune.training.rows.images`), so no dataset of pixels sits in memory."""

    input_ids: list[int]
    labels: list[int]
    origin: str = ""
    images: tuple[Any, ...] = ()

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.input_ids)


@dataclass
class EncodingReport:
    """What encoding did to the data; nothing is dropped or cut without a count here."""

    records: int = 0
    examples: int = 0
    tokens: int = 0
    label_tokens: int = 0
    truncated: int = 0  # longer than cutoff_len and cut
    truncated_answers: int = 0  # … and the cut took (part of) an answer with it
    dropped: list[str] = field(default_factory=list)  # "origin: why", the first DROPPED_KEPT
    dropped_count: int = 0  # records dropped: nothing to learn left

    def drop(self, reason: str) -> None:
        """Count a dropped record; its ``origin: why`` is kept among the first ones."""
        self.dropped_count += 1
        if len(self.dropped) < DROPPED_KEPT:
            self.dropped.append(reason)

    def add(self, other: EncodingReport) -> None:
        """Add ``other``'s counts (another part of the same split) to these."""
        for name in ("records", "examples", "tokens", "label_tokens", "truncated",
                     "truncated_answers", "dropped_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dropped += other.dropped[: DROPPED_KEPT - len(self.dropped)]

    def warn(self) -> None:
        if self.truncated:
            log.warning(
                "%d of %d records exceed cutoff_len and were truncated; %d of them lost "
                "answer tokens",
                self.truncated, self.records, self.truncated_answers,
            )
        if self.dropped_count:
            log.warning(
                "%d records dropped (no trainable tokens left), e.g. %s",
                self.dropped_count, "; ".join(self.dropped[:3]),
            )


@dataclass(frozen=True)
class EncodingOptions:
    """``cutoff_len``: the longest example in tokens. ``train_on``: every assistant turn
    or the last one only. ``overflow``: cut examples at ``cutoff_len`` (keeping the
    start), cut each turn's prompt and answer in proportion (``turns``: LLaMA-Factory's
    way, :mod:`.turn_truncation`) or drop them whole (they would teach the model never
    to stop)."""

    cutoff_len: int = 1024
    train_on: Literal["all", "last"] = "all"
    overflow: Literal["truncate", "turns", "drop"] = "truncate"
    train_suffix: bool = False  # train what follows an answer's end-of-turn token too


def trainable_spans(segments: Sequence[Segment], train_on: str = "all",
                    suffix: bool = False) -> list[int]:
    """Flat ``[start0, end0, start1, end1, …]`` character spans of the trainable text;
    with ``suffix``, an answer's span also covers what its message writes after it (the
    newline after ChatML's ``<|im_end|>``: LLaMA-Factory's templates train it)."""
    last = max((s.message for s in segments if s.trainable), default=-1)
    spans: list[int] = []
    position = 0
    trained_message: int | None = None  # the message whose answer was just trained
    for segment in segments:
        end = position + len(segment.text)
        trained = segment.trainable and (train_on == "all" or segment.message == last)
        follows = suffix and not segment.trainable and segment.message == trained_message
        if (trained or follows) and end > position:
            if spans and spans[-1] == position:  # extend a span that is still open
                spans[-1] = end
            else:
                spans += [position, end]
        trained_message = segment.message if trained or follows else None
        position = end
    return spans


def label_tokens(ids: list[int], encoding: Any, spans: Sequence[int]) -> tuple[list[int], int]:
    """Each id whose token starts inside a span, else IGNORE_INDEX; and how many are.

    ``encoding`` is the tokenizers ``Encoding`` of the rendered text.
    """
    labels = [IGNORE_INDEX] * len(ids)
    trained = 0
    for start, end in zip(spans[::2], spans[1::2], strict=True):
        first = encoding.char_to_token(start)
        last = encoding.char_to_token(end - 1)
        if first is None or last is None:  # unmapped characters: look at every token
            first, last = _tokens_starting_in(encoding, start, end)
        elif encoding.token_to_chars(first)[0] < start:  # straddles the span start
            first += 1
        labels[first : last + 1] = ids[first : last + 1]
        trained += max(last + 1 - first, 0)
    return labels, trained


def _tokens_starting_in(encoding: Any, start: int, end: int) -> tuple[int, int]:
    inside = [i for i, (begin, _) in enumerate(encoding.offsets) if start <= begin < end]
    return (inside[0], inside[-1]) if inside else (0, -1)


def encode_conversations(
    conversations: Iterable[Conversation],
    template: ChatTemplate,
    tokenizer: Any,
    options: EncodingOptions = EncodingOptions(),
) -> tuple[list[EncodedExample], EncodingReport]:
    """Encode SFT conversations with every non-assistant token masked."""
    report = EncodingReport()
    examples: list[EncodedExample] = []
    with ConversationBatches(tokenizer, options, report) as encoder:
        for batch in batches(conversations, BATCH_SIZE):
            examples += encoder.submit(batch, template)
        examples += encoder.flush()
    report.warn()
    return examples, report


class ConversationBatches:
    """Encodes conversations a batch at a time in a two-stage pipeline: while the Rust
    tokenizer (which releases the GIL) encodes one batch, Python renders the next and
    labels the previous one. :meth:`submit` returns the previous batch's examples,
    :meth:`flush` the last ones. A context manager (it owns the tokenizing thread)."""

    def __init__(self, tokenizer: Any, options: EncodingOptions, report: EncodingReport) -> None:
        self.backend = tokenizer.backend_tokenizer
        self.options, self.report = options, report
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plugtune-tokenize")
        self.pending: tuple[list[Conversation], list[list[Segment]], Future[Any]] | None = None

    def __enter__(self) -> ConversationBatches:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, batch: list[Conversation], template: ChatTemplate) -> list[EncodedExample]:
        rendered = [template.segments(conversation) for conversation in batch]
        texts = ["".join(segment.text for segment in segments) for segments in rendered]
        encoding = self.pool.submit(self.backend.encode_batch, texts, add_special_tokens=False)
        done = self.flush()
        self.pending = (batch, rendered, encoding)
        return done

    def flush(self) -> list[EncodedExample]:
        if self.pending is None:
            return []
        pending, self.pending = self.pending, None
        return _label_batch(*pending, self.options, self.report)


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _label_batch(
    batch: Sequence[Conversation],
    rendered: Sequence[Sequence[Segment]],
    encoded: Future[Any],
    options: EncodingOptions,
    report: EncodingReport,
) -> list[EncodedExample]:
    examples = []
    for conversation, segments, encoding in zip(batch, rendered, encoded.result(), strict=True):
        report.records += 1
        ids = encoding.ids
        spans = trainable_spans(segments, options.train_on, options.train_suffix)
        labels, trained = label_tokens(ids, encoding, spans)
        if len(ids) > options.cutoff_len:
            report.truncated += 1
            if options.overflow == "drop":
                report.truncated_answers += any(label != IGNORE_INDEX
                                                for label in labels[options.cutoff_len:])
                report.drop(f"{conversation.origin}: longer than cutoff_len")
                continue
            if options.overflow == "turns":
                ids, labels = cut_turns(ids, labels, options.cutoff_len, IGNORE_INDEX)
            else:
                ids, labels = ids[: options.cutoff_len], labels[: options.cutoff_len]
            kept = sum(label != IGNORE_INDEX for label in labels)
            report.truncated_answers += kept < trained
            trained = kept
        if not trained:
            report.drop(f"{conversation.origin}: no answer tokens within cutoff_len")
            continue
        report.examples += 1
        report.tokens += len(ids)
        report.label_tokens += trained
        images = tuple(conversation.meta.get(IMAGES_KEY) or ())
        examples.append(EncodedExample(ids, labels, conversation.origin, images))
    return examples


class TextBlocks:
    """Pretraining: texts in, blocks of ``block_size`` tokens out, a batch at a time: each
    document tokenized and ended with EOS, the documents' tokens joined and cut. Only the
    tokens of the unfinished block are kept between batches.

    The tail shorter than one block is kept as a last, shorter block (counted as
    truncated) rather than silently dropped."""

    def __init__(self, tokenizer: Any, block_size: int, report: EncodingReport) -> None:
        self.backend = tokenizer.backend_tokenizer
        self.eos = tokenizer.eos_token_id
        self.block_size, self.report = block_size, report
        self.carry: list[int] = []

    def add(self, texts: Sequence[Text]) -> list[EncodedExample]:
        stream = self.carry
        encoded = self.backend.encode_batch_fast([t.text for t in texts], add_special_tokens=False)
        for encoding in encoded:
            stream += encoding.ids
            if self.eos is not None:
                stream.append(self.eos)
        self.report.records += len(texts)
        full = len(stream) - len(stream) % self.block_size
        self.carry = stream[full:]
        return self._blocks(stream[:full])

    def finish(self) -> list[EncodedExample]:
        """The last, shorter block (if any tokens are left)."""
        tail, self.carry = self.carry, []
        self.report.truncated += bool(tail)
        return self._blocks(tail)

    def _blocks(self, ids: list[int]) -> list[EncodedExample]:
        size = self.block_size
        examples = [EncodedExample(ids[i : i + size], ids[i : i + size])
                    for i in range(0, len(ids), size)]
        self.report.examples += len(examples)
        self.report.tokens += len(ids)
        self.report.label_tokens += len(ids)
        return examples
