"""The output layer on trained positions only: the same loss and gradients as the full
computation (LoRA and full fine-tuning, tied and untied output layer, padded and packed
rows, with and without a token count to normalise by), and the same per-step losses
through plugtune's trainer."""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch

from plugtune import Session, load_config
from plugtune.core.config import ModelConfig
from plugtune.data.encoding import IGNORE_INDEX, EncodedExample
from plugtune.data.packing import pack_examples
from plugtune.models import load_causal_lm
from plugtune.training import train
from plugtune.training.rows.collators import NUM_TOKENS, PackedCollator, PaddingCollator
from plugtune.training.speed.hf_trainer import CountingTrainer
from plugtune.training.speed.trained_logits import trained_logits_loss
from tests.conftest import write_jsonl

PAD = 0


def examples(count: int = 6, seed: int = 0) -> list[EncodedExample]:
    """Rows of random tokens: a prompt (not trained) and an answer (trained)."""
    generator = random.Random(seed)
    rows = []
    for _ in range(count):
        prompt = [generator.randrange(1, 8000) for _ in range(generator.randrange(3, 12))]
        answer = [generator.randrange(1, 8000) for _ in range(generator.randrange(2, 9))]
        rows.append(EncodedExample(prompt + answer, [IGNORE_INDEX] * len(prompt) + answer))
    return rows


def batch(layout: str) -> dict:
    rows = examples()
    inputs = (PaddingCollator(PAD)(rows) if layout == "padded"
              else PackedCollator(PAD)(pack_examples(rows, capacity=40)))
    inputs.pop(NUM_TOKENS)
    return inputs


def model_for(method: str, tied: bool):
    torch.manual_seed(0)
    model = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    if not tied:
        model.config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() * 1.5)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear",
                                                 init_lora_weights=False))
    return model.train()


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters()
            if parameter.requires_grad and parameter.grad is not None}


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize(("method", "tied"), [("lora", True), ("full", True),
                                              ("full", False), ("lora", False)])
@pytest.mark.parametrize("normalised", [False, True])
@pytest.mark.slow
def test_loss_and_gradients_equal_the_full_computation(layout, method, tied, normalised):
    inputs = batch(layout)
    items = torch.tensor(23) if normalised else None  # a count over an accumulated batch
    full = model_for(method, tied)
    lean = copy.deepcopy(full)
    extra = {"num_items_in_batch": items} if normalised else {}
    expected = full(**inputs, **extra).loss
    expected.backward()
    got = trained_logits_loss(lean, lean.get_output_embeddings(), inputs, items)
    assert got is not None
    got.backward()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    want, have = gradients(full), gradients(lean)
    assert want.keys() == have.keys() and want
    for name, grad in want.items():
        torch.testing.assert_close(have[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_model_that_never_calls_that_layer_falls_back():
    model = model_for("full", True)
    stranger = torch.nn.Linear(4, 4)
    assert trained_logits_loss(model, stranger, batch("padded"), None) is None


@pytest.mark.slow
def test_the_trainer_takes_the_short_path_and_keeps_its_per_step_losses(tmp_path,
                                                                        monkeypatch):
    data = write_jsonl(tmp_path / "sft.jsonl", [
        {"instruction": f"Question number {i} about plugtune?", "input": "",
         "output": f"Answer {i}: plugins all the way down."} for i in range(16)])
    used: list[bool] = []

    def spied(*args, **kwargs):
        loss = trained_logits_loss(*args, **kwargs)
        used.append(loss is not None)
        return loss

    monkeypatch.setattr("plugtune.training.speed.hf_trainer.trained_logits_loss", spied)

    def run(name: str, lean: bool) -> list[float]:
        monkeypatch.setattr(CountingTrainer, "trained_logits_only", lean)
        config = load_config(None, [
            "model.path=tiny://qwen2", f"data.train=[{data}]", f"output.dir={tmp_path / name}",
            "training.max_steps=4", "training.per_device_train_batch_size=4",
            "training.gradient_accumulation_steps=2", "training.logging_steps=1",
            "training.save_strategy=no", "training.learning_rate=1e-3"])
        train(config, Session())
        log = (tmp_path / name / "trainer_log.jsonl").read_text(encoding="utf-8")
        return [json.loads(line)["loss"] for line in log.splitlines() if '"loss"' in line]

    baseline = run("full", lean=False)
    assert used == []
    lean = run("lean", lean=True)
    assert used and all(used)
    assert len(lean) == len(baseline) == 4
    assert lean == pytest.approx(baseline, abs=1e-4)
