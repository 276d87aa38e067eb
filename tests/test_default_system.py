"""``default_system``: every template's option, LLaMA-Factory's ``default_system``.

LLaMA-Factory's ``Template._encode`` does ``system = system or self.default_system`` and
writes ``format_system`` with it before the first turn: a conversation without a system
message (or with an empty one) gets the configured prompt in place of the template's
default, and one with its own system message keeps it. These tests hold plugtune's
templates to that, in training, predict/serve rendering and the exported chat template.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from plugtune import ConfigError, Session, load_config
from plugtune.core.records import Conversation, Message
from plugtune.data.templates import resolve_template
from plugtune.plugins.templates import TEMPLATES
from plugtune.sdk.testing import SAMPLES, check_chat_template, check_jinja_parity
from tests.conftest import write_jsonl

SESSION = Session()
SYSTEM = "You are a pirate. Answer in one line."
NO_SYSTEM = {"gemma", "mistral"}
OPTIONS = {"hf": {"source": "tiny://qwen2"}}
NAMES = sorted(template.name for template in TEMPLATES)


def build(name: str, **options: object):
    return SESSION.build("templates", {"name": name, **OPTIONS.get(name, {}), **options})


def chats(template) -> list[Conversation]:
    """The SDK's sample conversations the template renders (tools only where it can)."""
    return [chat for _, chat, needs in SAMPLES
            if needs != "tools" or template.supports_tools is not False]


@pytest.mark.parametrize("name", sorted(set(NAMES) - NO_SYSTEM))
def test_a_conversation_without_a_system_message_gets_the_default(name):
    plain, configured = build(name), build(name, default_system=SYSTEM)
    for chat in chats(plain):
        if chat.system:  # its own system message wins
            expected = plain.segments(chat)
        else:
            messages = chat.messages[1:] if chat.system == "" else chat.messages
            given = replace(chat, messages=(Message("system", SYSTEM), *messages))
            expected = plain.segments(given)
            if chat.system is None:  # the added message belongs to no message
                expected = [replace(piece, message=max(piece.message - 1, -1))
                            for piece in expected]
        try:
            assert configured.segments(chat) == expected
        except ConfigError:  # a sample the family refuses (tools, …): refused alike
            with pytest.raises(ConfigError):
                plain.segments(chat)
    check_chat_template(configured)
    check_jinja_parity(configured)


@pytest.mark.parametrize("name", sorted(NO_SYSTEM))
def test_templates_without_a_system_role_refuse_a_default_system(name):
    with pytest.raises(ConfigError, match="has no system role"):
        build(name, default_system=SYSTEM)


def lf_qwen(system: str, *turns: str) -> str:
    """LLaMA-Factory's ``qwen`` template (format_system, format_user, format_assistant)."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for index, turn in enumerate(turns):
        text += (f"<|im_start|>user\n{turn}<|im_end|>\n<|im_start|>assistant\n" if index % 2 == 0
                 else f"{turn}<|im_end|>\n")
    return text


def test_the_qwen_default_is_replaced_as_llamafactory_does():
    template = build("qwen", default_system=SYSTEM)
    chat = Conversation((Message("user", "Hi"),))
    assert template.render(chat, add_generation_prompt=True) == lf_qwen(SYSTEM, "Hi")
    assert build("qwen").render(chat, add_generation_prompt=True) == lf_qwen(
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", "Hi")
    own = Conversation((Message("system", "Be brief."), Message("user", "Hi")))
    assert template.render(own, add_generation_prompt=True) == lf_qwen("Be brief.", "Hi")
    empty = Conversation((Message("system", ""), Message("user", "Hi")))
    assert template.render(empty, add_generation_prompt=True) == lf_qwen(SYSTEM, "Hi")


@pytest.fixture
def lf_config(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    data = write_jsonl(tmp_path / "data" / "chats.jsonl", [
        {"instruction": "Hi", "output": "Arr."},
        {"instruction": "Hi", "output": "Hello.", "system": "Be brief."},
    ])
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({"chats": {
        "file_name": data.name, "columns": {"prompt": "instruction", "response": "output",
                                           "system": "system"}}}))
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump({
        "model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
        "dataset": "chats", "template": "qwen", "default_system": SYSTEM,
        "output_dir": "saves/run", "overwrite_output_dir": True,
    }))
    monkeypatch.chdir(tmp_path)
    return path


def test_a_llamafactory_config_trains_and_predicts_with_its_default_system(lf_config):
    from plugtune.data.prepare import prepare
    from plugtune.inference.predictor import Predictor

    config = load_config(lf_config)
    assert config.template.name == "qwen"
    assert config.template.options == {"default_system": SYSTEM}
    prepared = prepare(config, SESSION)
    tokenizer = prepared.tokenizer
    first, second = prepared.splits["train"].examples
    assert tokenizer.decode(first.input_ids).startswith(lf_qwen(SYSTEM, "Hi", "Arr."))
    assert tokenizer.decode(second.input_ids).startswith(lf_qwen("Be brief.", "Hi"))
    trained = [i for i, label in zip(first.input_ids, first.labels, strict=True) if label >= 0]
    # the system prompt is not trained; the newline after <|im_end|> is, as LF trains it
    assert tokenizer.decode(trained) == "Arr.<|im_end|>\n"
    predictor = Predictor(config=config, session=SESSION)
    prompt = predictor.backend.template.render(Conversation((Message("user", "Hi"),)),
                                               add_generation_prompt=True)
    assert prompt == lf_qwen(SYSTEM, "Hi")


def test_export_and_the_run_folder_carry_the_default_system():
    """A family that writes no Jinja of its own ships the tokenizer's with the default in
    front, and that renders what the template trained on."""
    from plugtune.core.config import ModelConfig
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.deploy.export import run_chat_template, template_mismatch

    tokenizer = load_tokenizer(ModelConfig(path="tiny://qwen2"))
    template = resolve_template(SESSION, {"name": "qwen2", "default_system": SYSTEM}, tokenizer)
    assert template.jinja() is None  # qwen2 renders tools its own way
    tokenizer.chat_template = run_chat_template(template, tokenizer)
    assert template_mismatch(template, tokenizer) is None
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                             add_generation_prompt=True)
    assert rendered == lf_qwen(SYSTEM, "Hi")
