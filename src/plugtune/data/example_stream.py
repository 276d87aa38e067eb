"""Records in, encoded examples out, a batch at a time: the one encoding pipeline of
sft/pt rows, whether they end in a list, an Arrow file on disk or a training stream.

Conversations (and the supervised views of preference and KTO records) are rendered by
the template and tokenized in batches (:class:`~plugtune.data.encoding.ConversationBatches`);
raw texts are joined and cut into blocks (:class:`~plugtune.data.encoding.TextBlocks`).
Only one batch of records and one unfinished block are held at a time, so a corpus of any
size is encoded in constant memory. Examples come in the order of the records' batches
(in a batch, text blocks before conversations, which the pipeline hands back one batch
later): the same records always give the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record, Text
from plugtune.data.encoding import (
    BATCH_SIZE,
    ConversationBatches,
    EncodedExample,
    EncodingOptions,
    EncodingReport,
    TextBlocks,
    batches,
)


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


def encoded_examples(
    records: Iterable[Record],
    tokenizer: Any,
    template: Callable[[], ChatTemplate],
    options: EncodingOptions,
    block_size: int,
    report: EncodingReport,
) -> Iterator[EncodedExample]:
    """Texts become pretraining blocks of ``block_size``; everything else conversations,
    encoded with ``options``. ``template`` is called at the first conversation (raw text
    needs none); ``report`` counts as the examples are taken."""
    blocks = TextBlocks(tokenizer, block_size, report)
    with ConversationBatches(tokenizer, options, report) as conversations:
        for batch in batches(records, BATCH_SIZE):
            texts = [record for record in batch if isinstance(record, Text)]
            if texts:
                yield from blocks.add(texts)
            chats = list(as_conversations(r for r in batch if not isinstance(r, Text)))
            if chats:
                yield from conversations.submit(chats, template())
        yield from conversations.flush()
    yield from blocks.finish()
