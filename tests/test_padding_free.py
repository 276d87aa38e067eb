"""Padding-free batches: one row per batch gives the padded batch's logits, losses and
gradients — for every model type plugtune turns it on for by itself, with sliding
windows, packed rows, LoRA and full fine-tuning, sft and pt, through the trainer."""

from __future__ import annotations

import copy
import json
import random
from itertools import pairwise

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GemmaConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
    Starcoder2Config,
)

from plugtune import Session, load_config
from plugtune.core.errors import ConfigError
from plugtune.data.encoding import IGNORE_INDEX, EncodedExample
from plugtune.data.packing import pack_examples
from plugtune.models import load_causal_lm
from plugtune.training import train
from plugtune.training.rows.collators import NUM_TOKENS, FlatCollator, PaddingCollator
from plugtune.training.speed.padding_free import (
    ATTENTION,
    CHECKED_MODEL_TYPES,
    flat_row_attention,
    padding_free_wanted,
    segment_attention,
)
from tests.conftest import write_jsonl

VOCAB = 512
SMALL = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 96,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "head_dim": 16, "max_position_embeddings": 256}
#: A random model of each model type padding-free is on for by default.
CONFIGS = {
    "llama": lambda: LlamaConfig(**SMALL),
    "mistral": lambda: MistralConfig(**SMALL, sliding_window=None),
    "qwen2": lambda: Qwen2Config(**SMALL),
    "qwen3": lambda: Qwen3Config(**SMALL),
    "phi3": lambda: Phi3Config(**{**SMALL, "num_key_value_heads": 4}, pad_token_id=0),
    "gemma": lambda: GemmaConfig(**SMALL),
}


def examples(count: int = 5, seed: int = 0) -> list[EncodedExample]:
    """Rows of random tokens of different lengths: a prompt (not trained), an answer."""
    generator = random.Random(seed)
    rows = []
    for _ in range(count):
        prompt = [generator.randrange(1, VOCAB) for _ in range(generator.randrange(3, 14))]
        answer = [generator.randrange(1, VOCAB) for _ in range(generator.randrange(2, 11))]
        rows.append(EncodedExample(prompt + answer, [IGNORE_INDEX] * len(prompt) + answer))
    return rows


def random_model(model_type: str, **changes):
    torch.manual_seed(0)
    config = CONFIGS[model_type]()
    config._attn_implementation = "sdpa"
    for key, value in changes.items():
        setattr(config, key, value)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").train()


def without_count(batch: dict) -> dict:
    batch.pop(NUM_TOKENS)
    return batch


def padded_and_flat(model, rows, *, bounds: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of each row's real tokens, from a padded batch and from a flat row
    (without ``bounds``: only its position ids tell where examples start)."""
    padded = without_count(PaddingCollator(0)(rows))
    flat = without_count(FlatCollator()(rows))
    if not bounds:
        flat = {key: flat[key] for key in ("input_ids", "labels", "position_ids")}
    with torch.no_grad():
        want = model(**padded).logits[padded["attention_mask"].bool()]
        with flat_row_attention(model):
            have = model(**flat).logits[0]
    return want, have


# -- the collator --


def test_a_flat_batch_is_the_examples_side_by_side():
    rows = examples(3)
    batch = FlatCollator()(rows)
    lengths = [len(row.input_ids) for row in rows]
    assert batch["input_ids"].tolist() == [[t for row in rows for t in row.input_ids]]
    assert batch["position_ids"].tolist() == [[p for n in lengths for p in range(n)]]
    assert batch["labels"].tolist() == [[label for row in rows
                                         for label in (IGNORE_INDEX, *row.labels[1:])]]
    bounds = [0, lengths[0], lengths[0] + lengths[1], sum(lengths)]
    assert batch["cu_seq_lens_q"].tolist() == batch["cu_seq_lens_k"].tolist() == bounds
    assert batch["cu_seq_lens_q"].dtype == torch.int32
    assert batch["max_length_q"] == batch["max_length_k"] == max(lengths)
    assert batch[NUM_TOKENS] == sum(lengths)
    assert "attention_mask" not in batch


def test_packed_rows_flatten_into_their_samples():
    rows = examples(6)
    packed = pack_examples(rows, capacity=30)
    assert any(len(set(row.sequence_ids)) > 1 for row in packed)
    flat_packed = FlatCollator()(packed)
    samples = [EncodedExample(row.input_ids[i:j], row.labels[i:j]) for row in packed
               for i, j in _sample_spans(row.sequence_ids)]
    flat_samples = FlatCollator()(samples)
    for key, value in flat_samples.items():
        got = flat_packed[key]
        assert (got.tolist() if torch.is_tensor(got) else got) == (
            value.tolist() if torch.is_tensor(value) else value), key


def _sample_spans(sequence_ids):
    starts = [i for i, sample in enumerate(sequence_ids)
              if i == 0 or sample != sequence_ids[i - 1]]
    return list(pairwise([*starts, len(sequence_ids)]))


# -- the attention, model by model --


def test_the_checked_model_types_are_the_ones_tested_here():
    assert set(CONFIGS) == CHECKED_MODEL_TYPES


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
@pytest.mark.parametrize("bounds", [True, False], ids=["bounds", "position-ids"])
@pytest.mark.slow
def test_a_flat_row_gives_the_padded_logits(model_type, bounds):
    model = random_model(model_type)
    want, have = padded_and_flat(model, examples(), bounds=bounds)
    assert want.shape == have.shape
    torch.testing.assert_close(have, want, rtol=1e-4, atol=2e-5)
    assert model.config._attn_implementation == "sdpa"  # put back after the block


def test_without_its_own_attention_a_flat_row_mixes_examples():
    """The check above can fail: plain SDPA on a flat row attends across examples."""
    model = random_model("qwen2")
    padded = without_count(PaddingCollator(0)(examples()))
    flat = without_count(FlatCollator()(examples()))
    with torch.no_grad():
        want = model(**padded).logits[padded["attention_mask"].bool()]
        mixed = model(**flat).logits[0]
    assert not torch.allclose(mixed, want, atol=1e-3)


def test_a_sliding_window_shorter_than_an_example_is_kept():
    model = random_model("mistral", sliding_window=4)
    rows = examples()
    assert max(len(row.input_ids) for row in rows) > 4
    want, have = padded_and_flat(model, rows)
    torch.testing.assert_close(have, want, rtol=1e-4, atol=2e-5)
    unwindowed = random_model("mistral")
    assert not torch.allclose(padded_and_flat(unwindowed, rows)[0], want, atol=1e-3)


@pytest.mark.parametrize("method", ["lora", "full"])
@pytest.mark.slow
def test_loss_and_gradients_equal_the_padded_batch(method):
    padded_model = load_causal_lm_for(method)
    flat_model = copy.deepcopy(padded_model)
    rows = examples(6)
    padded_loss = padded_model(**without_count(PaddingCollator(0)(rows))).loss
    padded_loss.backward()
    with flat_row_attention(flat_model):
        flat_loss = flat_model(**without_count(FlatCollator()(rows))).loss
    flat_loss.backward()
    assert flat_loss.item() == pytest.approx(padded_loss.item(), abs=1e-5)
    grads = {name: p.grad for name, p in padded_model.named_parameters() if p.grad is not None}
    assert grads
    for name, parameter in flat_model.named_parameters():
        if name in grads:
            torch.testing.assert_close(parameter.grad, grads[name], rtol=1e-3, atol=1e-6,
                                       msg=name)


def load_causal_lm_for(method: str):
    from plugtune.core.config import ModelConfig

    torch.manual_seed(0)
    model = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear",
                                                 init_lora_weights=False))
    return model.train()


def test_calls_without_boundaries_are_plain_sdpa():
    model = random_model("qwen2")
    padded = without_count(PaddingCollator(0)(examples()))
    with torch.no_grad():
        want = model(**padded).logits
        with flat_row_attention(model):
            assert model.config._attn_implementation == ATTENTION
            have = model(**padded).logits
    torch.testing.assert_close(have, want)


def test_soft_capped_or_non_causal_attention_is_refused():
    query = torch.zeros(1, 2, 4, 8)
    bounds = torch.tensor([0, 4], dtype=torch.int32)
    causal = torch.nn.Module()
    causal.is_causal = True
    with pytest.raises(ConfigError, match="data.padding_free: false"):
        segment_attention(causal, query, query, query, None, cu_seq_lens_q=bounds, softcap=50.0)
    encoder = torch.nn.Module()
    encoder.is_causal = False
    with pytest.raises(ConfigError, match="not a plain causal"):
        segment_attention(encoder, query, query, query, None, cu_seq_lens_q=bounds)


# -- when it is on --


def run_config(*overrides: str):
    return load_config(None, ["model.path=tiny://qwen2", *overrides])


def test_on_by_default_for_a_checked_model_and_text_rows():
    model = random_model("qwen2")
    assert padding_free_wanted(run_config(), model, text_rows=True)
    assert not padding_free_wanted(run_config(), model, text_rows=False)  # images, a plugin's
    assert not padding_free_wanted(run_config("data.padding_free=false"), model, text_rows=True)
    with pytest.raises(ConfigError, match="rows with images"):
        padding_free_wanted(run_config("data.padding_free=true"), model, text_rows=False)
    eager = random_model("qwen2")
    eager.set_attn_implementation("eager")
    assert not padding_free_wanted(run_config(), eager, text_rows=True)
    with pytest.raises(ConfigError, match="'eager'"):
        padding_free_wanted(run_config("data.padding_free=true"), eager, text_rows=True)
    unchecked = AutoModelForCausalLM.from_config(Starcoder2Config(**SMALL),
                                                 attn_implementation="sdpa")
    assert not padding_free_wanted(run_config(), unchecked, text_rows=True)
    assert padding_free_wanted(run_config("data.padding_free=true"), unchecked, text_rows=True)


# -- through the trainer --


def trained(tmp_path, name: str, data, *overrides: str) -> tuple[list[float], dict]:
    config = load_config(None, [
        "model.path=tiny://qwen2", f"data.train=[{data}]", f"output.dir={tmp_path / name}",
        "training.max_steps=4", "training.per_device_train_batch_size=4",
        "training.gradient_accumulation_steps=2", "training.logging_steps=1",
        "training.save_strategy=no", "training.learning_rate=1e-3", *overrides])
    metrics = train(config, Session())
    log = (tmp_path / name / "trainer_log.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["loss"] for line in log.splitlines() if '"loss"' in line], metrics


def sft_data(tmp_path):
    generator = random.Random(1)
    return write_jsonl(tmp_path / "sft.jsonl", [
        {"instruction": "Question " + " ".join("why" for _ in range(generator.randrange(1, 30))),
         "input": "", "output": f"Answer {i}: " + "plugins " * generator.randrange(1, 20)}
        for i in range(40)])


@pytest.mark.parametrize("extra", [[], ["data.packing=true"], ["peft.type=full"]],
                         ids=["lora", "packed", "full"])
@pytest.mark.slow
def test_training_flat_keeps_the_padded_losses(tmp_path, monkeypatch, extra):
    data = sft_data(tmp_path)
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return segment_attention(*args, **kwargs)

    monkeypatch.setattr("plugtune.training.speed.padding_free.segment_attention", counted)
    padded, _ = trained(tmp_path, "padded", data, "data.padding_free=false",
                        "data.val_size=0.2", *extra)
    assert calls == []
    flat, metrics = trained(tmp_path, "flat", data, "data.val_size=0.2", *extra)
    assert calls  # on by default for tiny://qwen2
    assert len(flat) == len(padded) == 4
    assert flat == pytest.approx(padded, abs=1e-5)
    _, padded_metrics = trained(tmp_path, "padded-again", data, "data.padding_free=false",
                                "data.val_size=0.2", *extra)
    assert metrics["eval_loss"] == pytest.approx(padded_metrics["eval_loss"], abs=1e-5)
    if "peft.type=full" in extra:
        saved = json.loads((tmp_path / "flat" / "config.json").read_text(encoding="utf-8"))
        assert ATTENTION not in json.dumps(saved)


@pytest.mark.slow
def test_pretraining_blocks_train_flat_with_the_padded_losses(tmp_path):
    text = tmp_path / "corpus.txt"
    generator = random.Random(2)
    text.write_text("\n".join(" ".join(generator.choice(["plug", "tune", "train", "row"])
                                       for _ in range(generator.randrange(5, 60)))
                              for _ in range(60)), encoding="utf-8")
    overrides = ["trainer=pt", "data.cutoff_len=48"]
    padded, _ = trained(tmp_path, "padded", text, "data.padding_free=false", *overrides)
    flat, _ = trained(tmp_path, "flat", text, *overrides)
    assert flat == pytest.approx(padded, abs=1e-5)


def test_flash_attention_keeps_its_own_varlen_path():
    """With flash-attention the model is not switched: transformers' flash path takes
    the flat row's boundaries under the very names the collators give them (checked
    against the installed transformers; flash-attention itself needs a GPU)."""
    import inspect

    from transformers.modeling_flash_attention_utils import _flash_attention_forward

    accepted = inspect.signature(_flash_attention_forward).parameters
    batch = FlatCollator()(examples(3))
    given = {"cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k"}
    assert given <= set(batch) and given <= set(accepted)
    model = random_model("qwen2")
    model.config._attn_implementation_internal = "flash_attention_2"
    assert padding_free_wanted(run_config(), model, text_rows=True)
    with flat_row_attention(model):
        assert model.config._attn_implementation == "flash_attention_2"


def test_a_trainer_that_pads_its_batches_refuses_padding_free_true(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": "name a color", "chosen": "blue", "rejected": "cheese"}])
    config = load_config(None, ["model.path=tiny://qwen2", f"data.train=[{data}]",
                                "trainer=rm", "data.padding_free=true",
                                f"output.dir={tmp_path / 'out'}"])
    with pytest.raises(ConfigError, match="trainer 'rm' pads its batches"):
        train(config, Session())
