"""From a run config to encoded data: template choice, stop tokens in the loss, CLI views."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from plugtune import ConfigError, Session
from plugtune.cli import cli
from plugtune.core.config import ModelConfig, load_config
from plugtune.core.records import Conversation, Message
from plugtune.data.encoding import encode_conversations
from plugtune.data.prepare import prepare
from plugtune.data.stats import padding_ratio, percentile
from plugtune.data.templates import resolve_template, stop_token_ids
from plugtune.data.tokenizer import load_tokenizer
from tests.conftest import FIXTURES, needs_fixtures

LLAMAFACTORY = FIXTURES / "llamafactory_data"
TINY = {"tiny://qwen2": ("qwen2", "<|im_end|>"), "tiny://llama": ("llama3", "<|eot_id|>")}


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.mark.parametrize("model", sorted(TINY))
def test_auto_picks_the_family_and_its_stop_token_is_trained(session, model):
    """The bug that makes fine-tuned models never stop, checked at the token level."""
    family, stop = TINY[model]
    tokenizer = load_tokenizer(ModelConfig(path=model))
    template = resolve_template(session, None, tokenizer)
    assert template.name == family
    assert template.stop_strings[0] == stop
    conversation = Conversation((Message("user", "hi"), Message("assistant", "hello"),
                                 Message("user", "你好"), Message("assistant", "再见")))
    [example], _ = encode_conversations([conversation], template, tokenizer)
    stop_id = tokenizer.convert_tokens_to_ids(stop)
    stops = [i for i, token in enumerate(example.input_ids) if token == stop_id]
    trained_stops = [i for i in stops if example.labels[i] == stop_id]
    assert len(trained_stops) == 2  # one per answer, each inside the loss
    rendered = tokenizer.apply_chat_template(conversation.to_openai(), tokenize=False)
    assert template.render(conversation) == rendered


def test_hf_takes_the_tokenizers_own_template(session):
    tokenizer = load_tokenizer(ModelConfig(path="tiny://llama"))
    template = resolve_template(session, "hf", tokenizer)
    conversation = Conversation((Message("user", "hi"), Message("assistant", "hello")))
    assert template.render(conversation) == tokenizer.apply_chat_template(
        conversation.to_openai(), tokenize=False
    )


def test_a_named_template_and_auto_errors(session):
    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    assert resolve_template(session, "chatml", tokenizer).name == "chatml"
    with pytest.raises(ConfigError, match="auto takes no options"):
        resolve_template(session, {"name": "auto", "x": 1}, tokenizer)

    class NoTemplate:
        chat_template = None

    with pytest.raises(ConfigError, match="the tokenizer has no chat_template"):
        resolve_template(session, None, NoTemplate())


def write_config(tmp_path, **data_fields):
    config = {"model": {"path": "tiny://qwen2"},
              "data": {"dataset_dir": str(LLAMAFACTORY), "cutoff_len": 128, **data_fields}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@needs_fixtures
def test_prepare_encodes_every_split(session, tmp_path):
    config = load_config(write_config(tmp_path, train=["identity"], val_size=0.2))
    prepared = prepare(config, session)
    assert set(prepared.splits) == {"train", "eval"}
    train, evaluation = prepared.splits["train"], prepared.splits["eval"]
    assert train.report.records + evaluation.report.records == 91
    assert all(len(e.input_ids) <= 128 for e in train.examples)


@needs_fixtures
def test_preference_and_pretraining_records_encode(session, tmp_path):
    config = load_config(write_config(tmp_path, train=["dpo_en_demo", "wiki_demo"]),
                         ["data.max_samples=5"])
    prepared = prepare(config, session)
    report = prepared.splits["train"].report
    assert report.records == 5 * 2 + 5  # chosen and rejected, then 5 texts
    blocks = [e for e in prepared.splits["train"].examples if e.labels == e.input_ids]
    assert blocks and all(len(b.input_ids) <= 128 for b in blocks)


@needs_fixtures
def test_data_preview_shows_trained_spans(tmp_path):
    result = CliRunner().invoke(cli, ["data", "preview", str(write_config(tmp_path,
                                train=["identity"])), "-n", "1"])
    assert result.exit_code == 0, result.output
    assert "template: qwen2" in result.stdout
    assert "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n⟦Hello!" in result.stdout
    assert "<|im_end|>⟧" in result.stdout


@needs_fixtures
def test_data_stats_json(tmp_path):
    path = write_config(tmp_path, train=["identity", "alpaca_en_demo"])
    result = CliRunner().invoke(cli, ["data", "stats", str(path), "--json",
                                      "--set", "data.max_samples=50"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    train = stats["splits"]["train"]
    assert stats["template"] == "qwen2"
    assert train["records"] == 100
    assert train["examples"] + train["dropped"] == 100
    assert train["length_percentiles"]["max"] <= 128
    assert 0 < train["label_ratio"] < 1 and 0 <= train["padding_ratio"] < 1
    assert train["packed_rows"] < train["examples"]


def test_percentile_and_padding_ratio():
    assert [percentile([1, 2, 3, 4], q) for q in (50, 90, 99)] == [2, 4, 4]
    assert padding_ratio([2, 4, 4, 4], batch_size=2) == pytest.approx(1 - 14 / 16)


@pytest.mark.parametrize("model", sorted(TINY))
def test_stop_token_ids_for_backends(session, model):
    tokenizer = load_tokenizer(ModelConfig(path=model))
    template = resolve_template(session, None, tokenizer)
    ids = stop_token_ids(template, tokenizer)
    assert ids[0] == tokenizer.convert_tokens_to_ids(TINY[model][1])
    assert tokenizer.eos_token_id in ids and len(ids) == len(set(ids))
