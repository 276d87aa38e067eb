"""Conversations → ``input_ids`` / ``attention_mask`` / ``labels``, prompts masked.

The template renders each conversation as segments whose trainable spans are known
in characters. All rendered strings then go through the Rust tokenizer in one batch,
and a token is trained on when its first character lies in a trainable span (found
with ``char_to_token`` at the span ends, so no per-token offsets are materialised in
Python). That is one tokenizer call per batch instead of one ``apply_chat_template``
per record (or one per turn, as incremental masking needs), and it cannot drift from
the rendering: the ids are those of the rendered string.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from plugtune.core.interfaces import ChatTemplate, Segment
from plugtune.core.records import Conversation, Text
from plugtune.data.turn_truncation import cut_turns
from plugtune.sdk.backends.vision import IMAGES_KEY

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
BATCH_SIZE = 1024


@dataclass(frozen=True, slots=True)
class EncodedExample:
    """One row to train on. ``images``: its conversation's images as the record gave them
    (paths, not pixels): a vision-language run loads them per batch
    (:mod:`plugtune.training.image_rows`), so no dataset of pixels sits in memory."""

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
    dropped: list[str] = field(default_factory=list)  # "origin: why", nothing to learn left

    def warn(self) -> None:
        if self.truncated:
            log.warning(
                "%d of %d records exceed cutoff_len and were truncated; %d of them lost "
                "answer tokens",
                self.truncated, self.records, self.truncated_answers,
            )
        if self.dropped:
            log.warning(
                "%d records dropped (no trainable tokens left), e.g. %s",
                len(self.dropped), "; ".join(self.dropped[:3]),
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
    """Encode SFT conversations with every non-assistant token masked.

    Batches flow through a two-stage pipeline: while the Rust tokenizer (which releases
    the GIL) encodes one batch, Python renders the next and labels the previous one.
    """
    backend = tokenizer.backend_tokenizer
    report = EncodingReport()
    examples: list[EncodedExample] = []
    pending: tuple[list[Conversation], list[list[Segment]], Future[Any]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plugtune-tokenize") as pool:
        for batch in _batches(conversations, BATCH_SIZE):
            rendered = [template.segments(conversation) for conversation in batch]
            texts = ["".join(segment.text for segment in segments) for segments in rendered]
            encoding = pool.submit(backend.encode_batch, texts, add_special_tokens=False)
            if pending is not None:
                examples += _label_batch(*pending, options, report)
            pending = (batch, rendered, encoding)
        if pending is not None:
            examples += _label_batch(*pending, options, report)
    report.warn()
    return examples, report


def _batches(items: Iterable[Conversation], size: int) -> Iterator[list[Conversation]]:
    batch: list[Conversation] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
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
                report.dropped.append(f"{conversation.origin}: longer than cutoff_len")
                continue
            if options.overflow == "turns":
                ids, labels = cut_turns(ids, labels, options.cutoff_len, IGNORE_INDEX)
            else:
                ids, labels = ids[: options.cutoff_len], labels[: options.cutoff_len]
            kept = sum(label != IGNORE_INDEX for label in labels)
            report.truncated_answers += kept < trained
            trained = kept
        if not trained:
            report.dropped.append(f"{conversation.origin}: no answer tokens within cutoff_len")
            continue
        report.examples += 1
        report.tokens += len(ids)
        report.label_tokens += trained
        images = tuple(conversation.meta.get(IMAGES_KEY) or ())
        examples.append(EncodedExample(ids, labels, conversation.origin, images))
    return examples


def encode_texts(
    texts: Iterable[Text], tokenizer: Any, block_size: int
) -> tuple[list[EncodedExample], EncodingReport]:
    """Pretraining: tokenize, end each document with EOS, concatenate, cut into blocks.

    The tail shorter than one block is kept as a last, shorter block (counted as
    truncated) rather than silently dropped.
    """
    backend = tokenizer.backend_tokenizer
    eos = tokenizer.eos_token_id
    records = list(texts)
    report = EncodingReport(records=len(records))
    stream: list[int] = []
    for encoding in backend.encode_batch_fast([r.text for r in records], add_special_tokens=False):
        stream += encoding.ids
        if eos is not None:
            stream.append(eos)
    examples = [
        EncodedExample(stream[i : i + block_size], stream[i : i + block_size])
        for i in range(0, len(stream), block_size)
    ]
    if examples and len(examples[-1].input_ids) < block_size:
        report.truncated = 1
    report.examples = len(examples)
    report.tokens = report.label_tokens = len(stream)
    return examples, report
