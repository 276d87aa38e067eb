"""Templates that write their own Jinja: it renders exactly what the template renders,
training saves it with the run, and ``template: auto`` checks a digest match by
rendering."""

from __future__ import annotations

import pytest

from plugtune import Session, load_config
from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates import SlotTemplate, render_chat_template, template_messages
from plugtune.sdk.testing import check_jinja_parity

SESSION = Session()
SLOT_FAMILIES = {"chatml", "internlm2", "yi", "llama3", "gemma", "mistral", "phi3", "chatglm3"}


def chat(*texts: str, system: str | None = None) -> Conversation:
    roles = ("user", "assistant")
    messages = tuple(Message(roles[i % 2], text) for i, text in enumerate(texts))
    return Conversation(((Message("system", system),) if system is not None else ()) + messages)


# Text that would break a template written by pasting strings into Jinja source.
TRICKY = [
    chat("{{ not jinja }} {% if x %}", "{content} and {{content}}"),
    chat('Quotes " and \' and a backslash \\ and \\n', "Tab\there, CR\r\nthere"),
    chat("  leading and trailing  ", "   ", "Again?", " yes "),
    chat("emoji 🦙 and 中文", "答案：四。", system="你是一个助手。"),
    chat("Hi", "Hello!", system=""),
    chat("One", "Two", "Three", "Four", "Five"),
]


def writes_jinja(name: str) -> bool:
    return SESSION.build("templates", name).jinja() is not None


def test_the_slot_families_write_their_jinja_and_the_others_do_not():
    names = set(SESSION.registry("templates").names()) - {"hf"}
    assert {name for name in names if writes_jinja(name)} == SLOT_FAMILIES


@pytest.mark.parametrize("name", sorted(SLOT_FAMILIES))
def test_the_written_jinja_renders_what_the_template_renders(name):
    template = SESSION.build("templates", name)
    supported = [c for c in TRICKY if template.supports_system or c.system is None]
    if template.alternating:
        supported = [c for c in supported if len(c.messages) < 5 or c.system is None]
    assert check_jinja_parity(template, supported) >= 2 * len(supported)


@pytest.mark.parametrize("name", ["llama3", "gemma", "chatglm3"])
def test_transformers_renders_the_written_jinja_the_same(name):
    """What a served tokenizer does with it: transformers' own renderer."""
    from plugtune.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(load_config(None).model)
    template = SESSION.build("templates", name)
    tokenizer.chat_template = template.jinja()
    conversation = chat("Two plus two?", "Four.", "And three?")
    for prompt in (False, True):
        rendered = tokenizer.apply_chat_template(template_messages(conversation),
                                                 tokenize=False, add_generation_prompt=prompt)
        assert rendered == template.render(conversation, add_generation_prompt=prompt)


def test_the_jinja_refuses_what_the_family_refuses():
    gemma = SESSION.build("templates", "gemma").jinja()
    with pytest.raises(Exception, match="no system role"):
        render_chat_template(gemma, template_messages(chat("Hi", system="Be brief.")))
    mistral = SESSION.build("templates", "mistral").jinja()
    with pytest.raises(Exception, match="alternate"):
        render_chat_template(mistral, [{"role": "user", "content": "a"},
                                       {"role": "user", "content": "b"}])


def test_a_family_with_its_own_rendering_logic_writes_none():
    from plugtune.sdk.templates import CHATML_SLOTS

    class Shouting(SlotTemplate):
        name = "shouting"
        stop_strings = ("<|im_end|>",)
        slots = CHATML_SLOTS

        def answer(self, index, message, conversation):
            return message.content.upper()

    assert Shouting().jinja() is None
    assert check_jinja_parity(Shouting()) == 0


def test_hf_writes_the_jinja_it_renders_unless_it_needs_more_variables():
    source = SESSION.build("templates", "chatml").jinja()
    assert SESSION.build("templates", {"name": "hf", "chat_template": source}).jinja() == source
    thinking = {"name": "hf", "chat_template": source, "template_kwargs": {"x": 1}}
    assert SESSION.build("templates", thinking).jinja() is None


@pytest.mark.slow
def test_a_run_with_a_named_template_saves_its_jinja(tmp_path):
    from plugtune.training import train
    from tests.conftest import write_jsonl

    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"messages": [{"role": "user", "content": f"q{i}"},
                      {"role": "assistant", "content": f"a{i}"}]} for i in range(4)])
    overrides = [f"data.train=[{data}]", f"output.dir={tmp_path / 'run'}", "training.max_steps=1",
                 "data.cutoff_len=256", "output.plot=false"]
    train(load_config(None, [*overrides, "template=llama3"]), Session())
    saved = (tmp_path / "run" / "chat_template.jinja").read_text(encoding="utf-8")
    assert saved == SESSION.build("templates", "llama3").jinja()

    overrides[1] = f"output.dir={tmp_path / 'auto'}"
    train(load_config(None, overrides), Session())  # template: auto keeps the tokenizer's
    kept = (tmp_path / "auto" / "chat_template.jinja").read_text(encoding="utf-8")
    assert "<|im_start|>" in kept and kept != saved


def test_auto_checks_a_digest_match_with_the_tokenizers_special_tokens():
    """The same Jinja text with another bos renders otherwise: hf renders it instead."""
    from dataclasses import replace

    from plugtune import hookimpl
    from plugtune.data.templates import resolve_template
    from plugtune.sdk.templates import CHATML_SLOTS, digest_chat_template

    upstream = "{{ bos_token }}" + SESSION.build("templates", "chatml").jinja()

    class FakeTokenizer:
        chat_template = upstream
        bos_token = "<s>"
        eos_token = "<|im_end|>"

    class BosChatML(SlotTemplate):
        """ChatML after a literal <|begin|> (as if its upstream bos were that)."""

        name = "bos-chatml"
        stop_strings = ("<|im_end|>",)
        slots = replace(CHATML_SLOTS, prefix="<|begin|>")
        jinja_digests = frozenset({digest_chat_template(upstream)})

    class Plugin:
        @hookimpl
        def register_templates(self, register):
            register("bos-chatml", BosChatML)

    session = Session(plugins=[Plugin()])
    assert resolve_template(session, "auto", FakeTokenizer()).name == "hf"
    FakeTokenizer.bos_token = "<|begin|>"
    assert resolve_template(session, "auto", FakeTokenizer()).name == "bos-chatml"
