"""Training on the tiny model: what a run learns, and what it leaves in its folder."""

from __future__ import annotations

import json

import pytest

from plugtune import Session, load_config
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.training import train
from tests.conftest import REPO, needs_fixtures, write_jsonl
from tests.helpers import log_values

ANSWERS = {
    "name a color": "blue",
    "capital of france": "paris is the capital",
    "two plus two": "four",
    "say hi": "hello there",
}


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture
def answers_file(tmp_path):
    path = tmp_path / "answers.jsonl"
    write_jsonl(path, [{"instruction": q, "output": a} for q, a in ANSWERS.items()])
    return path


def config_for(tmp_path, data, *overrides):
    return load_config(None, [
        f"data.train=[{data}]",
        f"output.dir={tmp_path / 'run'}",
        "training.per_device_train_batch_size=4",
        "training.logging_steps=5",
        "training.save_strategy=no",
        *overrides,
    ])


def greedy_answer(model, tokenizer, question):
    import torch

    from plugtune.core.records import Conversation, Message
    from plugtune.plugins.templates.qwen import Qwen2Template

    template = Qwen2Template()
    prompt = template.render(Conversation((Message("user", question),)),
                             add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=False)
    return text.split(template.stop_strings[0])[0]


@pytest.mark.slow
def test_full_fine_tuning_memorises_a_small_dataset(tmp_path, answers_file, session):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = config_for(tmp_path, answers_file, "peft.type=full", "training.max_steps=50",
                        "training.learning_rate=2e-3")
    train(config, session)
    output = tmp_path / "run"
    model = AutoModelForCausalLM.from_pretrained(output).eval()
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert {q: greedy_answer(model, tokenizer, q) for q in ANSWERS} == ANSWERS


ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, session):
    """One LoRA run with an evaluation split, shared by the output checks."""
    tmp_path = tmp_path_factory.mktemp("lora")
    config = config_for(tmp_path, ALPACA, "training.max_steps=30", "training.learning_rate=2e-3",
                        "data.val_size=0.25", "training.eval_strategy=steps",
                        "training.eval_steps=10", "callbacks=[sample_generations]")
    metrics = train(config, session)
    return tmp_path / "run", metrics


@pytest.mark.slow
def test_lora_loss_falls(lora_run):
    output, _ = lora_run
    losses = log_values(output, "loss")
    assert len(losses) == 6  # 30 steps, a log every 5
    # Measured here: 9.0 -> 7.6 over 30 steps at lr 2e-3 on 9 records.
    assert losses[-1] < losses[0] - 1.0


@pytest.mark.slow
def test_a_run_leaves_adapter_tokenizer_logs_plot_and_events(lora_run):
    output, metrics = lora_run
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json",
                 "chat_template.jinja", "run_config.yaml", "all_results.json"):
        assert (output / name).is_file(), name
    assert not [p for p in output.glob("*.bin") if p.name != "training_args.bin"]  # weights
    results = json.loads((output / "all_results.json").read_text())
    assert results["train_loss"] == pytest.approx(metrics["train_loss"])
    assert "eval_loss" in results and results["num_input_tokens_seen"] > 0
    assert (output / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((output / "runs").rglob("events.out.tfevents.*"))
    evals = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if "eval_loss" in e][:3] == [10, 20, 30]
    samples = (output / "sample_generations.jsonl").read_text().splitlines()
    assert {json.loads(line)["step"] for line in samples} == {10, 20, 30}
    config = load_config(output / "run_config.yaml")
    assert config.callbacks[0].name == "sample_generations"
    assert config.callbacks[0].options == {"count": 3, "max_new_tokens": 32}


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.slow
def test_qlora_trains_a_quantized_model(tmp_path, answers_file, session, bits):
    config = config_for(tmp_path, answers_file, "peft.type=qlora", f"quantization.bits={bits}",
                        "training.max_steps=20", "training.learning_rate=3e-3")
    train(config, session)
    losses = log_values(tmp_path / "run", "loss")
    assert losses[-1] < losses[0] - 0.5
    adapter = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert adapter["r"] == 8


@pytest.mark.slow
def test_dora_adapter(tmp_path, answers_file, session):
    config = config_for(tmp_path, answers_file, "peft.type=dora", "training.max_steps=5")
    train(config, session)
    adapter = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True


def test_freeze_trains_the_last_layers_only(session):
    from plugtune.training.run.finetuning import trainable_model

    config = load_config(None, ["peft.type=freeze", "peft.trainable_layers=1"])
    model = trainable_model(config, session)
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and all(name.startswith("model.layers.3.") for name in trained)

    config = load_config(None, ["peft.type=freeze", "peft.trainable_layers=-2",
                                "peft.trainable_modules=[mlp]"])
    trained = {n for n, p in trainable_model(config, session).named_parameters()
               if p.requires_grad}
    assert trained and all(n.startswith(("model.layers.0.mlp", "model.layers.1.mlp"))
                           for n in trained)

    config = load_config(None, ["peft.type=freeze", "peft.trainable_modules=[mlpp]"])
    with pytest.raises(ConfigError, match="mlpp"):
        trainable_model(config, session)


@needs_fixtures
@pytest.mark.slow
def test_pt_trains_on_raw_text_blocks(tmp_path, session):
    from tests.conftest import FIXTURES

    c4 = FIXTURES / "llamafactory_data" / "c4_demo.jsonl"
    config = config_for(tmp_path, c4, "trainer={name: pt, block_size: 64}", "peft.type=full",
                        "data.max_samples=40", "training.max_steps=20",
                        "training.learning_rate=2e-3")
    metrics = train(config, session)
    losses = log_values(tmp_path / "run", "loss")
    assert losses[-1] < losses[0] - 0.5
    assert metrics["num_input_tokens_seen"] == 20 * 4 * 64  # full blocks, no padding


def test_pt_refuses_conversations(tmp_path, answers_file, session):
    config = config_for(tmp_path, answers_file, "trainer=pt", "training.max_steps=1")
    with pytest.raises(PlugtuneError, match="answers.jsonl:1: text: pt trains on raw text"):
        train(config, session)


@pytest.mark.slow
def test_packing_sees_the_same_tokens_in_fewer_rows(tmp_path, session):
    counts = {}
    for packing in (False, True):
        config = config_for(tmp_path / str(packing), ALPACA, f"data.packing={packing}",
                            "training.num_train_epochs=1", "data.cutoff_len=512")
        metrics = train(config, session)
        counts[packing] = (metrics["num_input_tokens_seen"], metrics["train_steps_per_second"]
                           * metrics["train_runtime"])
    assert counts[True][0] == counts[False][0]  # every real token, counted once
    assert counts[True][1] < counts[False][1]  # in fewer steps


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rat=1e-3", "did you mean 'learning_rate'"),
        ("training.evaluation_strategy=steps", "use training.eval_strategy"),
        ("training.warmup_ratio=0.1", "warmup_steps"),
    ],
)
def test_training_arguments_are_checked_by_name(tmp_path, answers_file, session, override,
                                                message):
    config = config_for(tmp_path, answers_file, override)
    with pytest.raises(ConfigError, match=message):
        train(config, session)


@pytest.mark.slow
def test_a_finished_run_is_not_overwritten_by_accident(tmp_path, answers_file, session):
    config = config_for(tmp_path, answers_file, "training.max_steps=1")
    train(config, session)
    with pytest.raises(ConfigError, match="not empty"):
        train(config, session)
    config.output.overwrite = True
    train(config, session)
    unrelated = tmp_path / "mine"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("keep me")
    config.output.dir = str(unrelated)
    with pytest.raises(ConfigError, match="refusing to delete"):
        train(config, session)
    assert (unrelated / "notes.txt").read_text() == "keep me"


def test_quantization_is_only_for_adapters(tmp_path, answers_file, session):
    config = config_for(tmp_path, answers_file, "peft.type=full", "quantization.bits=4")
    with pytest.raises(ConfigError, match="only through adapters"):
        train(config, session)


@pytest.mark.slow
def test_training_continues_from_an_adapter(tmp_path, answers_file, session):
    import torch
    from safetensors.torch import load_file

    from plugtune.training.run.finetuning import trainable_model

    train(config_for(tmp_path, answers_file, "training.max_steps=3", "training.learning_rate=1e-2"),
          session)
    saved = load_file(tmp_path / "run" / "adapter_model.safetensors")
    model = trainable_model(load_config(None, [f"model.adapter={tmp_path / 'run'}"]), session)
    loaded = {name: p for name, p in model.named_parameters() if "lora_" in name}
    assert loaded and all(p.requires_grad for p in loaded.values())
    for name, weight in saved.items():
        match = next(p for n, p in loaded.items() if n.replace(".default", "") == name)
        assert torch.equal(match.detach(), weight)
