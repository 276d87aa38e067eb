"""LLaMA-Factory's way with a row, as options: ``data.overflow: turns`` cuts an over-long
example turn by turn, each turn's prompt and answer in proportion (a long prompt no
longer drops its example); ``data.train_suffix`` also trains what the template writes
after an answer's end-of-turn token. LLaMA-Factory configs read with both, so both tools
train the same labels on the same examples."""

from __future__ import annotations

import pytest

from plugtune import Session, load_config
from plugtune.core.records import Conversation, Message
from plugtune.data.encoding import (
    IGNORE_INDEX,
    EncodingOptions,
    EncodingReport,
    encode_conversations,
)
from plugtune.data.templates import tokenizer_and_template
from plugtune.data.turn_truncation import cut_turns, turn_budget, turns
from plugtune.plugins.trainers.preference.preference_rows import Budget

P = IGNORE_INDEX


@pytest.mark.parametrize(("prompt", "answer", "room", "kept"), [
    (29, 583, 256, (29, 227)),    # a short prompt stays whole, the answer takes the rest
    (300, 100, 256, (156, 100)),  # a short answer stays whole, the prompt is cut
    (300, 300, 256, (128, 128)),  # both long: cut in proportion
    (400, 100, 256, (156, 100)),
    (10, 10, 256, (10, 10)),
    (5, 900, 8, (1, 7)),          # in proportion: int(8 * 900 / 905) answer tokens
])
def test_the_budget_shares_the_room_as_llamafactory_does(prompt, answer, room, kept):
    assert turn_budget(prompt, answer, room) == kept
    assert sum(turn_budget(prompt, answer, room)) <= room


def test_turns_are_prompt_runs_then_answer_runs_the_tail_counts_with_the_last_answer():
    labels = [P, P, 5, 6, P, P, P, 7, P]
    assert turns(labels, P) == [(0, 2, 2), (4, 3, 2)]
    ids = list(range(9))
    # the first turn fits; the second gets 2 tokens, all prompt by LLaMA-Factory's rule
    assert cut_turns(ids, labels, 6, P) == ([0, 1, 2, 3, 4, 5], [P, P, 5, 6, P, P])
    assert cut_turns(ids, labels, 8, P) == (ids[:8], [P, P, 5, 6, P, P, P, 7])  # 3 + 1
    assert cut_turns(ids, labels, 99, P) == (ids, labels)


def long_prompt_run(overflow: str) -> tuple[list, object, object]:
    config = load_config(None, ["model.path=tiny://qwen2", "template=qwen2",
                                "data.cutoff_len=48", f"data.overflow={overflow}"])
    tokenizer, template = tokenizer_and_template(config, Session())
    conversation = Conversation((Message("user", "word " * 80),
                                 Message("assistant", "A short answer.")), origin="d.json:1")
    options = EncodingOptions(cutoff_len=48, overflow=overflow)
    return (*encode_conversations([conversation], template, tokenizer, options), tokenizer)


def test_a_long_prompt_keeps_its_example_with_turns_and_loses_it_when_truncated():
    examples, report, tokenizer = long_prompt_run("turns")
    (example,) = examples
    assert len(example.input_ids) == 48 and report.truncated == 1
    trained = [label for label in example.labels if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == "A short answer.<|im_end|>"  # the whole answer
    assert example.input_ids[-len(trained) - 1:-1] == trained  # then its newline
    assert report.truncated_answers == 0 and report.dropped == []
    dropped, report, _ = long_prompt_run("truncate")
    assert dropped == [] and report.dropped == ["d.json:1: no answer tokens within cutoff_len"]


def test_preference_pairs_share_the_room_too():
    budget = Budget(256, "turns", EncodingReport())
    assert budget.fit("d:1", 300, [100, 80]) == (156, 100)
    assert Budget(256, "truncate", EncodingReport()).fit("d:1", 300, [100]) is None
    assert Budget(256, "truncate", EncodingReport()).fit("d:1", 200, [100]) == (200, 56)


def test_llamafactory_configs_cut_by_turns(tmp_path):
    path = tmp_path / "lf.yaml"
    path.write_text("stage: sft\nmodel_name_or_path: tiny://qwen2\ndataset: alpaca_en_demo\n"
                    "template: qwen\ncutoff_len: 256\nfinetuning_type: lora\n"
                    f"output_dir: {tmp_path / 'out'}\n")
    data = load_config(path).data
    assert data.overflow == "turns" and data.train_suffix is True


def test_train_suffix_trains_the_newline_after_each_end_of_turn():
    config = load_config(None, ["model.path=tiny://qwen2", "template=qwen2"])
    tokenizer, template = tokenizer_and_template(config, Session())
    chat = Conversation((Message("user", "Hi"), Message("assistant", "Hello!"),
                         Message("user", "Bye"), Message("assistant", "Bye!")))

    def trained(suffix: bool) -> list[int]:
        (example,), _ = encode_conversations([chat], template, tokenizer,
                                             EncodingOptions(train_suffix=suffix))
        return [index for index, label in enumerate(example.labels) if label != IGNORE_INDEX]

    ids = encode_conversations([chat], template, tokenizer)[0][0].input_ids
    end, newline = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.encode("\n")[0]
    added = sorted(set(trained(True)) - set(trained(False)))
    assert set(trained(False)) < set(trained(True)) and len(added) == 2
    assert [ids[i] for i in added] == [newline, newline]
    assert [ids[i - 1] for i in added] == [end, end]  # each right after an end of turn
