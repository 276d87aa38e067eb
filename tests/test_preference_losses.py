"""The preference losses against hand-computed values on a tiny batch, and the
reference-free trainers (orpo, cpo, simpo) running a few steps on the tiny model.

Each hand computation takes the answer tokens' log-probabilities from one unpadded
forward pass per sequence and writes the paper's formula: ORPO (Hong et al. 2024), CPO
(Xu et al. 2024), SimPO (Meng et al. 2024), and DPO's hinge and IPO losses as TRL's
DPOTrainer defines them (IPO on per-token averages). The trainers compute the same on a
padded batch.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as functional

from plugtune import Session, load_config
from plugtune.core.config import ModelConfig
from plugtune.core.records import Conversation, Message, Preference
from plugtune.training import train
from tests.conftest import write_jsonl

PAIRS = [
    ("name a color", "blue", "the moon is made of cheese"),
    ("capital of france", "paris is the capital", "london"),
]
TRAIN_PAIRS = [*PAIRS, ("two plus two", "four", "seven apples"),
               ("say hi", "hello there", "go away now")]


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def tiny(session):
    """The tiny model, its tokenizer and the pairs as plugtune's rows."""
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.models import load_causal_lm
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows

    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    template = resolve_template(session, None, tokenizer)
    pairs = [Preference(Conversation((Message("user", prompt),)), Message("assistant", chosen),
                        Message("assistant", rejected)) for prompt, chosen, rejected in PAIRS]
    rows = pair_rows(pairs, template, tokenizer, load_config(None, []))
    torch.manual_seed(0)
    model = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    return model, tokenizer, rows


def answer_logps(model, prompt: list[int], answer: list[int]) -> torch.Tensor:
    """log p(answer token | everything before it), one per answer token."""
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logits = model(ids).logits.float()[0, :-1]
    return logits.log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0][len(prompt) - 1:]


def sides(model, rows) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    chosen = [answer_logps(model, row["prompt_ids"], row["chosen_ids"]) for row in rows]
    rejected = [answer_logps(model, row["prompt_ids"], row["rejected_ids"]) for row in rows]
    return chosen, rejected


def batch_loss(trainer, rows) -> float:
    with torch.no_grad():
        loss, _ = trainer.get_batch_loss_metrics(trainer.model, trainer.data_collator(rows))
    return float(loss)


def old_style_trainer(trainer_class, config_class, model, tokenizer, rows, tmp_path, **options):
    from datasets import Dataset

    from plugtune.plugins.trainers.preference.pair_sequences import pair_sequences

    sequences = pair_sequences(rows)
    args = config_class(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False,
                        max_length=256, remove_unused_columns=False, **options)
    trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(sequences),
                            processing_class=tokenizer)
    return trainer, sequences


def nll(chosen: list[torch.Tensor]) -> float:
    """The chosen answers' negative log-likelihood, averaged over all their tokens."""
    return -float(torch.cat(chosen).mean())


def test_orpo_loss(tiny, tmp_path):
    from trl.experimental.orpo import ORPOConfig

    from plugtune.plugins.trainers.preference.orpo import orpo_trainer_class

    model, tokenizer, rows = tiny
    beta = 0.25
    trainer, sequences = old_style_trainer(orpo_trainer_class(), ORPOConfig, model, tokenizer,
                                           rows, tmp_path, beta=beta)
    chosen, rejected = sides(model, rows)
    ratios = []
    for good, bad in zip(chosen, rejected, strict=True):
        c, r = float(good.mean()), float(bad.mean())  # average log-probabilities
        log_odds = (c - r) - (math.log1p(-math.exp(c)) - math.log1p(-math.exp(r)))
        ratios.append(-math.log1p(math.exp(-log_odds)))  # log sigmoid(log_odds)
    expected = nll(chosen) - beta * sum(ratios) / len(ratios)
    assert batch_loss(trainer, sequences) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(("loss_type", "cpo_alpha"), [("sigmoid", 1.0), ("hinge", 0.0),
                                                       ("ipo", 0.5)])
def test_cpo_losses(tiny, tmp_path, loss_type, cpo_alpha):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    from plugtune.plugins.trainers.preference.pair_sequences import tokenized_pairs

    model, tokenizer, rows = tiny
    beta = 0.2
    trainer, sequences = old_style_trainer(tokenized_pairs(CPOTrainer), CPOConfig, model,
                                           tokenizer, rows, tmp_path, beta=beta,
                                           loss_type=loss_type, cpo_alpha=cpo_alpha)
    chosen, rejected = sides(model, rows)
    losses = []
    for good, bad in zip(chosen, rejected, strict=True):
        if loss_type == "ipo":  # per-token averages, then IPO's squared distance to 1/(2β)
            losses.append((float(good.mean() - bad.mean()) - 1 / (2 * beta)) ** 2)
            continue
        margin = float(good.sum() - bad.sum())  # summed log-probabilities
        losses.append(math.log1p(math.exp(-beta * margin)) if loss_type == "sigmoid"
                      else max(0.0, 1 - beta * margin))
    expected = sum(losses) / len(losses) + cpo_alpha * nll(chosen)
    assert batch_loss(trainer, sequences) == pytest.approx(expected, rel=1e-4)


def test_simpo_loss(tiny, tmp_path):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    from plugtune.plugins.trainers.preference.pair_sequences import tokenized_pairs

    model, tokenizer, rows = tiny
    beta, gamma = 2.0, 0.8
    trainer, sequences = old_style_trainer(tokenized_pairs(CPOTrainer), CPOConfig, model,
                                           tokenizer, rows, tmp_path, beta=beta,
                                           simpo_gamma=gamma, loss_type="simpo", cpo_alpha=0.0)
    chosen, rejected = sides(model, rows)
    losses = [-functional.logsigmoid(torch.tensor(beta * float(good.mean() - bad.mean()) - gamma))
              for good, bad in zip(chosen, rejected, strict=True)]
    expected = float(sum(losses)) / len(losses)
    assert batch_loss(trainer, sequences) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("loss_type", ["hinge", "ipo"])
@pytest.mark.slow
def test_dpo_hinge_and_ipo_losses(tiny, tmp_path, loss_type):
    """TRL's DPOTrainer (plugtune's dpo) against a reference model (the base, which is
    the policy with its adapter switched off; without one, TRL's reference is a copy of
    the adapter as training starts, and every margin would start at 0)."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from trl import DPOConfig, DPOTrainer

    from plugtune.models import load_causal_lm
    from plugtune.plugins.trainers.preference.trl_runs import pretokenized

    _, tokenizer, rows = tiny
    torch.manual_seed(1)
    base = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear",
                                            init_lora_weights=False, task_type="CAUSAL_LM"))
    beta = 0.3
    args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False,
                     max_length=256, beta=beta, loss_type=loss_type)
    trainer = pretokenized(DPOTrainer)(model=model, args=args, processing_class=tokenizer,
                                       train_dataset=Dataset.from_list(rows),
                                       ref_model=load_causal_lm(ModelConfig(path="tiny://qwen2")))
    chosen, rejected = sides(model, rows)
    with model.disable_adapter():
        ref_chosen, ref_rejected = sides(model, rows)
    losses = []
    for c, r, rc, rr in zip(chosen, rejected, ref_chosen, ref_rejected, strict=True):
        if loss_type == "hinge":
            margin = float((c.sum() - rc.sum()) - (r.sum() - rr.sum()))
            losses.append(max(0.0, 1 - beta * margin))
        else:
            delta = float((c.sum() - rc.sum()) / len(c) - (r.sum() - rr.sum()) / len(r))
            losses.append((delta - 1 / (2 * beta)) ** 2)
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer.data_collator(rows))
    assert float(loss) == pytest.approx(sum(losses) / len(losses), rel=1e-4)


@pytest.mark.parametrize("trainer", ["orpo", "cpo", "{name: simpo, beta: 2.0}"])
@pytest.mark.slow
def test_reference_free_trainers_run_on_the_tiny_model(tmp_path, session, trainer):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        for prompt, chosen, rejected in TRAIN_PAIRS])
    config = load_config(None, [
        f"data.train=[{pairs}]", f"output.dir={tmp_path / 'run'}", f"trainer={trainer}",
        "training.per_device_train_batch_size=2", "training.max_steps=2",
        "training.logging_steps=1", "training.save_strategy=no"])
    metrics = train(config, session)
    out = tmp_path / "run"
    assert (out / "adapter_model.safetensors").is_file()
    assert metrics["train_loss"] > 0
    logged = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert sum("rewards/margins" in entry for entry in logged) == 2
    assert metrics["num_input_tokens_seen"] == real_tokens(config, session)


def real_tokens(config, session) -> int:
    """Every pair's prompt twice and both answers: the 2 batches of 2 pairs, once."""
    from plugtune.data.datasets import load_datasets
    from plugtune.data.templates import tokenizer_and_template
    from plugtune.plugins.trainers.preference.preference_examples import preference_pairs
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows

    tokenizer, template = tokenizer_and_template(config, session)
    pairs = preference_pairs(load_datasets(config.data, session).train, "dpo")
    rows = pair_rows(pairs, template, tokenizer, config)
    return sum(2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"])
               for row in rows)
