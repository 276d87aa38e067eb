"""Answers after their prompts, as ids: where in a rendered conversation an answer's
trainable tokens lie. What the preference trainers tokenize their pairs with, and what a
reward model scores completions with, so both read a conversation the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.records import Conversation, Message, RecordError
from plugtune.data.encoding import BATCH_SIZE, IGNORE_INDEX, label_tokens, trainable_spans


@dataclass(frozen=True, slots=True)
class Rendered:
    """A prompt and its answer as ids: the answer is ``ids[start:end]``."""

    ids: list[int]
    start: int
    end: int


def encode_answers(
    items: Sequence[tuple[Conversation, Message]], template: Any, tokenizer: Any, *,
    suffix: bool = False,
) -> list[Rendered]:
    """Each (prompt, answer) rendered by ``template`` and tokenized in batches: the ids
    of the whole text, and where the answer's trainable tokens (its end-of-turn token
    included) start and end. Whatever the template writes after them (a newline) is
    part of the answer only with ``suffix`` (``data.train_suffix``: LLaMA-Factory's
    templates, and TRL's chat-template tokenization, include it)."""
    backend = tokenizer.backend_tokenizer
    rendered: list[Rendered] = []
    for first in range(0, len(items), BATCH_SIZE):
        batch = items[first:first + BATCH_SIZE]
        segments = [template.segments(prompt.answered(answer)) for prompt, answer in batch]
        texts = ["".join(segment.text for segment in parts) for parts in segments]
        encodings = backend.encode_batch(texts, add_special_tokens=False)
        for (prompt, _), parts, encoding in zip(batch, segments, encodings, strict=True):
            spans = trainable_spans(parts, "last", suffix)
            labels, _ = label_tokens(encoding.ids, encoding, spans)
            positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
            if not positions:
                raise RecordError(prompt.origin, "", "the answer renders to no tokens")
            rendered.append(Rendered(list(encoding.ids), positions[0], positions[-1] + 1))
    return rendered
