"""The preference trainers on the tiny model: dpo raises the chosen-vs-rejected margin of
its pairs, kto and rm train and save, rm ranks chosen answers first, records of the wrong
kind are refused by name, and LLaMA-Factory's dpo and kto examples train."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from plugtune import Session, load_config
from plugtune.cli import cli
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.records import Conversation, Message, Preference
from plugtune.sdk.cli import CliState
from plugtune.training import train
from tests.conftest import FIXTURES, needs_fixtures, write_jsonl
from tests.helpers import assert_adapter_changes_predictions, log_values, trainer_log
from tests.tiny_data import PAIRS


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture
def pairs_file(tmp_path):
    return write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        for prompt, chosen, rejected in PAIRS
    ])


def config_for(tmp_path, data, trainer, *overrides):
    return load_config(None, [
        f"data.train=[{data}]",
        f"output.dir={tmp_path / 'run'}",
        f"trainer={trainer}",
        "training.per_device_train_batch_size=8",
        "training.logging_steps=2",
        "training.save_strategy=no",
        "training.max_steps=2",
        *overrides,
    ])


@pytest.mark.slow
def test_dpo_raises_the_margin_of_its_pairs(tmp_path, session, pairs_file):
    config = config_for(tmp_path, pairs_file, "dpo", "training.max_steps=20",
                        "training.learning_rate=5e-3")
    metrics = train(config, session)
    out = tmp_path / "run"
    margins = log_values(out, "rewards/margins")
    assert len(margins) == 10
    assert margins[-1] > margins[0] + 1.0, margins  # measured: 0.15 -> 2.2
    assert log_values(out, "rewards/accuracies")[-1] == 1.0
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "ref").exists()  # TRL's frozen reference adapter is not saved
    assert (out / "training_rewards.png").stat().st_size > 0
    assert (out / "training_loss.png").is_file()
    assert metrics["num_input_tokens_seen"] > 0 and log_values(out, "tokens")[-1] > 0
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # TensorBoard


@pytest.mark.slow
def test_a_new_adapters_reference_is_the_base_model_to_the_last_bit(tmp_path, session,
                                                                  pairs_file, monkeypatch):
    """A new LoRA adapter adds exactly 0.0 at first, so dpo takes its reference with the
    adapter disabled instead of running TRL's frozen copy of it: the same losses and
    rewards at every step as with the copy."""
    from plugtune.plugins.trainers.preference import trl_runs

    def logged(folder, keep_copy):
        monkeypatch.setattr(trl_runs, "base_is_reference", lambda run, model: not keep_copy)
        config = config_for(folder, pairs_file, "dpo", "training.max_steps=4",
                            "training.logging_steps=1", "training.learning_rate=5e-3")
        train(config, session)
        return [(entry["loss"], entry["rewards/margins"]) for entry in trainer_log(folder / "run")
                if "loss" in entry]

    with_base = logged(tmp_path / "base", keep_copy=False)
    assert with_base == logged(tmp_path / "copy", keep_copy=True)
    assert len(with_base) == 4 and with_base[-1][1] > with_base[0][1]


def test_dpo_rows_are_rendered_by_the_runs_template(session):
    """The prompt ends where the answer starts; the answer ends with the template's
    end-of-turn token (no EOS or newline appended, no BOS added)."""
    from plugtune.core.config import ModelConfig
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows

    config = load_config(None, ["model.path=tiny://llama"])
    tokenizer = load_tokenizer(ModelConfig(path="tiny://llama"))
    template = resolve_template(session, None, tokenizer)
    prompt = Conversation((Message("user", "name a color"),), origin="x:1")
    pair = Preference(prompt, Message("assistant", "blue"), Message("assistant", "the moon"))
    [row] = pair_rows([pair], template, tokenizer, config)
    assert tokenizer.decode(row["prompt_ids"]) == template.render(
        prompt, add_generation_prompt=True)
    assert row["prompt_ids"].count(tokenizer.bos_token_id) == 1
    assert tokenizer.decode(row["chosen_ids"]) == "blue<|eot_id|>"
    assert tokenizer.decode(row["rejected_ids"]) == "the moon<|eot_id|>"


def test_with_train_suffix_pair_rows_are_trls_chat_template_tokens(session):
    """``data.train_suffix`` (set for LLaMA-Factory configs) also trains ChatML's newline
    after ``<|im_end|>`` in pairs and KTO completions: the tokens TRL's own
    chat-template tokenization gives the answer, and LLaMA-Factory's templates."""
    from plugtune.core.config import ModelConfig
    from plugtune.core.records import LabeledCompletion
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.plugins.trainers.preference.preference_rows import completion_rows, pair_rows

    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    template = resolve_template(session, None, tokenizer)
    prompt = Conversation((Message("user", "name a color"),), origin="x:1")
    pair = Preference(prompt, Message("assistant", "blue"), Message("assistant", "the moon"))
    plain = load_config(None, ["model.path=tiny://qwen2"])
    suffixed = load_config(None, ["model.path=tiny://qwen2", "data.train_suffix=true"])
    assert tokenizer.decode(pair_rows([pair], template, tokenizer, plain)[0]["chosen_ids"]) == (
        "blue<|im_end|>")
    [row] = pair_rows([pair], template, tokenizer, suffixed)
    messages = [{"role": "user", "content": "name a color"}]
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               tokenize=True, return_dict=False)
    whole = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": "blue"}],
                                          tokenize=True, return_dict=False)
    assert row["prompt_ids"] == prompt_ids and row["chosen_ids"] == whole[len(prompt_ids):]
    assert tokenizer.decode(row["rejected_ids"]) == "the moon<|im_end|>\n"
    labelled = LabeledCompletion(prompt.answered(Message("assistant", "blue")), True)
    [kto] = completion_rows([labelled], template, tokenizer, suffixed)
    assert kto["completion_ids"] == row["chosen_ids"]


def test_gold_bad_records_pair_every_answer(tmp_path, session):
    from plugtune.data.datasets import load_dataset
    from plugtune.plugins.trainers.preference.preference_examples import (
        labeled_completions,
        preference_pairs,
    )

    path = write_jsonl(tmp_path / "gold_bad.jsonl", [{
        "conversations": [{"role": "user", "content": "name a color"}],
        "gold_answers": ["blue", "red"], "bad_answers": ["cheese", "loud", "seven"],
    }])
    records, _ = load_dataset(str(path), session)
    pairs = preference_pairs(records, "dpo")
    assert [(p.chosen.content, p.rejected.content) for p in pairs] == [
        ("blue", "cheese"), ("red", "loud"), ("blue", "seven")]
    assert all(p.prompt.messages == (Message("user", "name a color"),) for p in pairs)
    labeled = labeled_completions(records)
    assert [(c.conversation.messages[-1].content, c.label) for c in labeled] == [
        ("blue", True), ("red", True), ("cheese", False), ("loud", False), ("seven", False)]


@pytest.mark.slow
def test_dpo_trains_on_gold_bad_records(tmp_path, session):
    path = write_jsonl(tmp_path / "gold_bad.jsonl", [
        {"conversations": [{"role": "user", "content": prompt}],
         "gold_answers": [chosen], "bad_answers": [rejected, "no idea"]}
        for prompt, chosen, rejected in PAIRS[:4]
    ])
    # Each step the same batch: the 8 (gold, bad) pairs of the 4 records.
    train(config_for(tmp_path, path, "dpo", "training.logging_steps=1", "training.max_steps=8",
                     "training.learning_rate=5e-3"), session)
    out = tmp_path / "run"
    margins = log_values(out, "rewards/margins")
    assert len(margins) == 8
    assert margins[-1] > margins[0] + 1.0, margins  # the gold answers gain on the bad ones
    assert log_values(out, "rewards/accuracies")[-1] == 1.0
    losses = log_values(out, "loss")
    assert losses[-1] < losses[0], losses


@pytest.fixture
def sft_adapter(tmp_path):
    """A LoRA adapter with non-zero weights, as an SFT run would leave."""
    from peft import LoraConfig, get_peft_model

    from plugtune.core.config import ModelConfig
    from plugtune.models import load_causal_lm

    model = load_causal_lm(ModelConfig(path="tiny://qwen2"))
    adapter = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear",
                                               init_lora_weights=False, task_type="CAUSAL_LM"))
    adapter.save_pretrained(tmp_path / "sft")
    return tmp_path / "sft"


@pytest.mark.slow
def test_dpo_ipo_continues_an_sft_adapter_against_it(tmp_path, session, pairs_file, sft_adapter):
    """The reference is the SFT adapter as loaded, not the bare base: before the first
    update, policy and reference agree and every reward is 0."""
    from safetensors.torch import load_file

    config = config_for(tmp_path, pairs_file, "{name: dpo, loss_type: ipo, beta: 0.5}",
                        f"model.adapter={sft_adapter}", "training.logging_steps=1")
    train(config, session)
    out = tmp_path / "run"
    first = trainer_log(out)[0]
    assert first["rewards/chosen"] == pytest.approx(0, abs=1e-5)
    assert first["rewards/rejected"] == pytest.approx(0, abs=1e-5)
    before = load_file(sft_adapter / "adapter_model.safetensors")
    after = load_file(out / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not before[key].equal(after[key]) for key in before)


@pytest.mark.slow
def test_kto_trains_and_saves(tmp_path, session):
    path = write_jsonl(tmp_path / "kto.jsonl", [
        {"prompt": prompt, "completion": answer, "label": label}
        for prompt, chosen, rejected in PAIRS[:4]
        for answer, label in ((chosen, True), (rejected, False))
    ])
    config = config_for(tmp_path, path, "{name: kto, desirable_weight: 1.5}",
                        "training.per_device_train_batch_size=4", "training.max_steps=8",
                        "training.learning_rate=5e-3", "training.logging_steps=1")
    train(config, session)
    out = tmp_path / "run"
    # The desirable answers' reward rises above the undesirable ones'.
    margins = log_values(out, "rewards/margins")
    assert len(margins) == 8 and log_values(out, "kl")
    assert sum(margins[-2:]) / 2 > sum(margins[:2]) / 2 + 0.5, margins
    assert_adapter_changes_predictions(out)
    assert (out / "training_rewards.png").is_file()


@pytest.mark.slow
def test_rm_ranks_chosen_answers_first(tmp_path, session, pairs_file):
    import torch
    from peft import PeftModel

    from plugtune.core.config import ModelConfig
    from plugtune.data.datasets import load_dataset
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.plugins.trainers.preference.preference_examples import preference_pairs
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows
    from plugtune.training.run.finetuning import load_reward_model

    config = config_for(tmp_path, pairs_file, "rm", "training.max_steps=10",
                        "training.learning_rate=5e-3")
    train(config, session)
    out = tmp_path / "run"
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["task_type"] == "SEQ_CLS" and "score" in saved["modules_to_save"]
    assert log_values(out, "accuracy")[-1] == 1.0

    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    template = resolve_template(session, None, tokenizer)
    records, _ = load_dataset(str(pairs_file), session)
    rows = pair_rows(preference_pairs(records, "rm"), template, tokenizer, config)
    model = PeftModel.from_pretrained(load_reward_model(ModelConfig(path="tiny://qwen2")), out)
    model.eval()

    def score(ids):
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).logits.item()

    ranked = sum(score(row["chosen_ids"]) > score(row["rejected_ids"]) for row in rows)
    assert ranked >= 7, ranked


@pytest.mark.parametrize(("trainer", "rows", "needs"), [
    ("dpo", [{"instruction": "say hi", "output": "hello"}], "trains on preference pairs"),
    ("rm", [{"prompt": "say hi", "completion": "hello", "label": True}], "use trainer kto"),
    ("kto", [{"instruction": "say hi", "output": "hello"}], "labelled desirable or not"),
])
def test_records_of_the_wrong_kind_are_refused(tmp_path, session, trainer, rows, needs):
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(PlugtuneError) as error:
        train(config_for(tmp_path, path, trainer), session)
    assert "data.jsonl:1" in str(error.value) and needs in str(error.value)


def test_gold_bad_record_without_bad_answers_is_refused_by_dpo(tmp_path, session):
    path = write_jsonl(tmp_path / "gold.jsonl", [
        {"conversations": [{"role": "user", "content": "hi"}], "gold_answers": ["hello"]}])
    with pytest.raises(PlugtuneError, match=r"gold\.jsonl:1: bad_answers: no bad answer"):
        train(config_for(tmp_path, path, "dpo"), session)


@pytest.mark.parametrize(("trainer", "overrides", "message"), [
    ("{name: dpo, loss_type: simpo}", [], "not a loss of TRL's DPOTrainer"),
    ("{name: dpo, loss_type: [sigmoid, sft], loss_weights: [1.0]}", [], "loss_weights has 1"),
    ("dpo", ["training.beta=0.5"], "training.beta: a dpo option"),
    ("dpo", ["training.max_length=64"], "data.cutoff_len"),
    ("dpo", ["training.precompute_ref_logprobs=true"], "precompute_ref_log_probs"),
    ("kto", ["training.per_device_train_batch_size=1"], "kto needs at least 2"),
])
def test_settings_are_checked_before_training(tmp_path, session, pairs_file, trainer,
                                              overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        train(config_for(tmp_path, pairs_file, trainer, *overrides), session)


LF_EXAMPLES = [
    ("qwen3_lora_dpo.yaml", []),
    ("qwen3_lora_kto.yaml", ["training.per_device_train_batch_size=2"]),  # TRL's KTO needs 2
]


@needs_fixtures
@pytest.mark.parametrize(("example", "overrides"), LF_EXAMPLES, ids=[e for e, _ in LF_EXAMPLES])
@pytest.mark.slow
def test_llamafactory_preference_examples_train(tmp_path, monkeypatch, example, overrides):
    source = (FIXTURES / "llamafactory_examples/train_lora" / example).read_text()
    lines = ["model_name_or_path: tiny://qwen2" if line.startswith("model_name_or_path:")
             else line for line in source.splitlines()]
    config = tmp_path / "lf.yaml"
    config.write_text("\n".join(lines))
    (tmp_path / "data").symlink_to(FIXTURES / "llamafactory_data")
    monkeypatch.chdir(tmp_path)
    settings = ["training.max_steps=2", "data.cutoff_len=256", "data.max_samples=64",
                "training.logging_steps=1", *overrides]
    result = CliRunner().invoke(
        cli, ["train", str(config), *(arg for s in settings for arg in ("--set", s))],
        obj=CliState(),
    )
    assert result.exit_code == 0, result.output
    output_dir = tmp_path / next(
        line.split(":", 1)[1].strip() for line in lines if line.startswith("output_dir:")
    )
    losses = log_values(output_dir, "loss")
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses), losses
    assert_adapter_changes_predictions(output_dir)  # it trained, and saved what it did
