"""Encoding: masks, truncation reports, last-turn training, packing, pretraining blocks."""

from __future__ import annotations

import pytest

from plugtune.core.config import ModelConfig
from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message, Text
from plugtune.data.encoding import (
    IGNORE_INDEX,
    EncodingOptions,
    EncodingReport,
    TextBlocks,
    encode_conversations,
    trainable_spans,
)
from plugtune.data.packing import pack_examples
from plugtune.data.tokenizer import load_tokenizer


class ChatML:
    """A minimal ChatML template (a test double: the real ones are plugins)."""

    name = "test-chatml"
    stop_strings = ("<|im_end|>",)

    def segments(self, conversation, *, add_generation_prompt=False):
        pieces = []
        for index, message in enumerate(conversation.messages):
            pieces.append(Segment(f"<|im_start|>{message.role}\n", False, index))
            trainable = message.role == "assistant"
            pieces.append(Segment(f"{message.content}<|im_end|>", trainable, index))
            pieces.append(Segment("\n", False, index))
        if add_generation_prompt:
            pieces.append(Segment("<|im_start|>assistant\n"))
        return pieces

    def render(self, conversation, *, add_generation_prompt=False):
        segments = self.segments(conversation, add_generation_prompt=add_generation_prompt)
        return "".join(s.text for s in segments)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelConfig(path="tiny://qwen2"))


def chat(*turns, origin="t.jsonl:1"):
    roles = ["user", "assistant"] * len(turns)
    messages = tuple(Message(r, t) for r, t in zip(roles, turns, strict=False))
    return Conversation(messages, origin=origin)


def decoded_labels(tokenizer, example):
    return tokenizer.decode([t for t in example.labels if t != IGNORE_INDEX])


def test_only_answers_and_their_end_of_turn_are_trained(tokenizer):
    [example], report = encode_conversations(
        [chat("What is 2+2?", "4", "And 3+3?", "It is 6.")], ChatML(), tokenizer
    )
    assert decoded_labels(tokenizer, example) == "4<|im_end|>It is 6.<|im_end|>"
    rendered = ChatML().render(chat("What is 2+2?", "4", "And 3+3?", "It is 6."))
    assert example.input_ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    answer_ends = [i for i, t in enumerate(example.input_ids) if t == eos][1::2]
    assert all(example.labels[i] == eos for i in answer_ends)  # the stop token is learnt
    assert report.records == report.examples == 1
    assert report.label_tokens == sum(t != IGNORE_INDEX for t in example.labels)


def test_train_on_last_turn_only(tokenizer):
    options = EncodingOptions(train_on="last")
    [example], _ = encode_conversations(
        [chat("Q1", "first answer", "Q2", "second answer")], ChatML(), tokenizer, options
    )
    assert decoded_labels(tokenizer, example) == "second answer<|im_end|>"


def test_truncation_is_counted_and_never_silent(tokenizer, caplog):
    long_answer = chat("short question", "word " * 200, origin="data.jsonl:7")
    fits = chat("q", "a")
    options = EncodingOptions(cutoff_len=32)
    examples, report = encode_conversations([long_answer, fits], ChatML(), tokenizer, options)
    assert [len(e.input_ids) <= 32 for e in examples] == [True, True]
    assert report.truncated == 1 and report.truncated_answers == 1
    assert "exceed cutoff_len" in caplog.text
    dropped, report = encode_conversations(
        [long_answer, fits], ChatML(), tokenizer, EncodingOptions(cutoff_len=32, overflow="drop")
    )
    assert len(dropped) == 1 and report.dropped == ["data.jsonl:7: longer than cutoff_len"]


def test_a_record_whose_answer_is_cut_away_entirely_is_dropped_and_reported(tokenizer):
    prompt_only = chat("question " * 100, "answer", origin="data.jsonl:3")
    examples, report = encode_conversations(
        [prompt_only], ChatML(), tokenizer, EncodingOptions(cutoff_len=16)
    )
    assert examples == []
    assert report.dropped == ["data.jsonl:3: no answer tokens within cutoff_len"]


def test_trainable_spans_merge_adjacent_segments():
    segments = [Segment("ab"), Segment("cd", True, 1), Segment("ef", True, 1), Segment("g")]
    assert trainable_spans(segments) == [2, 6]
    segments.append(Segment("hi", True, 3))
    assert trainable_spans(segments, "last") == [7, 9]


def test_packing_keeps_samples_apart_and_fills_rows(tokenizer):
    conversations = [chat(f"question {i}", "answer " * (i % 5 + 1)) for i in range(20)]
    examples, _ = encode_conversations(conversations, ChatML(), tokenizer)
    rows = pack_examples(examples, capacity=64)
    assert len(rows) < len(examples)
    assert all(len(row.input_ids) <= 64 for row in rows)
    assert sum(len(r.input_ids) for r in rows) == sum(len(e.input_ids) for e in examples)
    for row in rows:
        starts = [i for i, p in enumerate(row.position_ids) if p == 0]
        assert starts[0] == 0
        assert all(row.labels[i] == IGNORE_INDEX for i in starts)  # no label crosses samples
        assert row.sequence_ids == sorted(row.sequence_ids)
    packed_labels = sorted(t for r in rows for t in r.labels)
    assert packed_labels == sorted(t for e in examples for t in e.labels)
    assert pack_examples(examples, 64) == rows  # deterministic


def text_blocks(tokenizer, batches, block_size):
    report = EncodingReport()
    encoder = TextBlocks(tokenizer, block_size, report)
    return [b for batch in batches for b in encoder.add(batch)] + encoder.finish(), report


def test_pretraining_blocks_end_documents_with_eos(tokenizer):
    texts = [Text("first document " * 10), Text("second one"), Text("third " * 7)]
    blocks, report = text_blocks(tokenizer, [texts], block_size=16)
    stream = [t for b in blocks for t in b.input_ids]
    assert stream.count(tokenizer.eos_token_id) == 3
    assert all(len(b.input_ids) == 16 for b in blocks[:-1])
    assert all(b.labels == b.input_ids for b in blocks)
    assert report.tokens == len(stream) and report.records == 3
    assert report.truncated == (len(stream) % 16 > 0)  # the shorter tail is kept, counted
    # a batch at a time (a stream): the unfinished block carries over, the rows are equal
    one_by_one, streamed = text_blocks(tokenizer, [[text] for text in texts], block_size=16)
    assert one_by_one == blocks and streamed == report


def test_a_packed_row_gives_each_sample_the_logits_it_has_alone(tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    from plugtune.data.packing import packed_attention_mask
    from plugtune.tiny import tiny_model_path

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path("tiny://qwen2")).eval()
    examples, _ = encode_conversations([chat("hi", "hello"), chat("2+2?", "4")], ChatML(),
                                       tokenizer)
    [row] = pack_examples(examples, capacity=256)
    mask = packed_attention_mask([row.sequence_ids, row.sequence_ids[:5]])
    assert mask.shape == (2, 1, len(row.input_ids), len(row.input_ids))
    assert not mask[1, 0, 5:].any()  # padding attends to nothing
    with torch.no_grad():
        packed = model(input_ids=torch.tensor([row.input_ids]), attention_mask=mask[:1],
                       position_ids=torch.tensor([row.position_ids])).logits[0]
        offset = 0
        for example in sorted(examples, key=lambda e: -len(e.input_ids)):
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]
            length = len(example.input_ids)
            assert torch.allclose(packed[offset : offset + length], alone, atol=1e-5)
            offset += length
