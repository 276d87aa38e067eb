"""Padding-free batches for TRL's dpo and kto: the fused log-probability call made on one
flat row gives the padded call's per-token outputs, and training gives the padded run's
losses, rewards and log-probabilities at every step."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from plugtune import Session, load_config
from plugtune.core.config import ModelConfig
from plugtune.models import load_causal_lm
from plugtune.plugins.trainers.preference import flat_fused_calls as flat_module
from plugtune.plugins.trainers.preference.flat_fused_calls import flat_call, flat_fused_calls
from plugtune.training import train
from plugtune.training.speed.padding_free import flat_row_attention
from tests.conftest import write_jsonl


def fused_model():
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    model = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    add_fused_lm_head(model)
    return model.train()


def right_padded_batch():
    """Four rows of different lengths, right-padded, labels only on each row's tail."""
    generator = torch.Generator().manual_seed(3)
    lengths = [9, 14, 5, 12]
    width = max(lengths)
    input_ids = torch.zeros(len(lengths), width, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, -100)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = torch.randint(1, 8000, (length,), generator=generator)
        attention_mask[row, :length] = 1
        labels[row, length // 2:length] = input_ids[row, length // 2:length]
    return input_ids, attention_mask, labels


def test_a_flat_fused_call_gives_the_padded_calls_outputs():
    padded_model = fused_model()
    flat_model = copy.deepcopy(padded_model)
    input_ids, attention_mask, labels = right_padded_batch()
    call = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
            "fused_lm_head": True, "use_cache": False}
    want = padded_model(**call)
    want.log_probs.sum().backward()
    with flat_row_attention(flat_model), flat_fused_calls(flat_model):
        have = flat_model(**call)
    have.log_probs.sum().backward()
    assert have.log_probs.shape == want.log_probs.shape == (4, input_ids.shape[1] - 1)
    torch.testing.assert_close(have.log_probs, want.log_probs, rtol=1e-4, atol=1e-5)
    assert (have.log_probs != 0).sum() == (labels[:, 1:] != -100).sum()
    torch.testing.assert_close(have.loss, want.loss, rtol=1e-5, atol=1e-6)
    grads = dict(padded_model.named_parameters())
    for name, parameter in flat_model.named_parameters():
        torch.testing.assert_close(parameter.grad, grads[name].grad, rtol=1e-3, atol=1e-6,
                                   msg=name)


def test_the_flat_call_keeps_sequences_apart():
    input_ids, attention_mask, labels = right_padded_batch()
    flat = flat_call(input_ids, attention_mask, labels)
    assert flat is not None
    lengths = attention_mask.sum(1).tolist()
    assert flat["input_ids"].shape == (1, sum(lengths))
    assert flat["cu_seq_lens_q"].tolist() == [0, 9, 23, 28, 40]
    assert flat["position_ids"][0].tolist() == [p for n in lengths for p in range(n)]
    ends = [bound - 1 for bound in flat["cu_seq_lens_q"].tolist()[1:]]
    assert all(flat["shift_labels"][0, end] == -100 for end in ends)  # no next sequence
    left = attention_mask.flip(1)
    assert flat_call(input_ids, left, labels) is None  # left padding: left alone


def test_other_calls_pass_untouched():
    model = fused_model()
    input_ids, attention_mask, _ = right_padded_batch()
    with torch.no_grad():
        want = model(input_ids=input_ids, attention_mask=attention_mask).logits
        with flat_row_attention(model), flat_fused_calls(model):
            have = model(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(have, want)


PAIRS = [(f"question {i} " + "why " * (i % 7), "yes " * (1 + i % 5), "no " * (2 + i % 9))
         for i in range(16)]


def logged(tmp_path, name: str, trainer: str, data, *overrides: str) -> list[dict]:
    config = load_config(None, [
        f"data.train=[{data}]", f"output.dir={tmp_path / name}", f"trainer={trainer}",
        "training.per_device_train_batch_size=4", "training.logging_steps=1",
        "training.save_strategy=no", "training.max_steps=4", "training.learning_rate=5e-3",
        *overrides])
    train(config, Session())
    lines = (tmp_path / name / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if "loss" in entry]


@pytest.mark.parametrize(("trainer", "keys"), [
    ("dpo", ("loss", "rewards/margins", "logps/chosen", "logps/rejected")),
    ("kto", ("loss", "rewards/chosen", "rewards/rejected", "kl")),
])
@pytest.mark.slow
def test_training_flat_keeps_the_padded_run(tmp_path, monkeypatch, trainer, keys):
    if trainer == "dpo":
        rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]
    else:
        rows = [{"prompt": p, "completion": c if i % 2 else r, "label": bool(i % 2)}
                for i, (p, c, r) in enumerate(PAIRS)]
    data = write_jsonl(tmp_path / f"{trainer}.jsonl", rows)
    calls: list[int] = []

    def counted(*args, **kwargs):
        flat = flat_call(*args, **kwargs)
        calls.append(flat is not None)
        return flat

    monkeypatch.setattr(flat_module, "flat_call", counted)
    padded = logged(tmp_path, "padded", trainer, data, "data.padding_free=false")
    assert calls == []
    flat = logged(tmp_path, "flat", trainer, data)
    assert calls and all(calls)  # on by default for tiny://qwen2, every call flat
    assert len(flat) == len(padded) == 4
    for step, (have, want) in enumerate(zip(flat, padded, strict=True)):
        for key in keys:
            assert have[key] == pytest.approx(want[key], rel=1e-4, abs=1e-5), (step, key)
