"""The Modelfile's TEMPLATE, rendered by Go's ``text/template`` (what Ollama runs), writes
exactly what the run's template renders, for every built-in template declared as slots;
the others are refused with the reason. Go comes from Debian's ``golang-go`` (``make
test`` installs it); without it the rendering test skips here and fails on CI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugtune import Session
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, Message
from plugtune.deploy.ollama import check_slots, modelfile
from tests.conftest import needs
from tests.ollama_rendering import CHATS, block, go_render, ollama_messages

SLOT_TEMPLATES = ("chatglm3", "chatml", "deepseek-r1", "gemma", "internlm2", "llama3",
                  "mistral", "phi3", "qwen", "qwen2", "qwen3", "yi")


def rendered_chats(template: ChatTemplate) -> list[tuple[tuple[Message, ...], str]]:
    """Each chat the template accepts, with what it renders for the next answer."""
    chats = []
    for chat in CHATS:
        try:
            chats.append((chat, template.render(Conversation(chat), add_generation_prompt=True)))
        except PlugtuneError:
            continue  # a system turn for a family without one
    return chats


@needs(shutil.which("go") is not None, "Go (Debian's golang-go)")
@pytest.mark.slow
def test_go_renders_each_modelfile_template_as_the_run_renders(tmp_path: Path) -> None:
    session = Session()
    templates = [session.build("templates", name) for name in SLOT_TEMPLATES]
    templates.append(session.build("templates", {"name": "chatml", "default_system": "Hi!"}))
    cases, expected = [], []
    for template in templates:
        text = modelfile(template, "model.gguf")
        chats = rendered_chats(template)
        cases.append({"Template": block("TEMPLATE", text),
                      "Chats": [ollama_messages(chat, block("SYSTEM", text))
                                for chat, _ in chats]})
        expected.append([rendering for _, rendering in chats])
    for template, want, got in zip(templates, expected, go_render(cases, tmp_path), strict=True):
        assert got == want, template.name
    assert sum(map(len, expected)) >= 3 * len(templates)


def test_the_modelfile_names_the_gguf_stops_and_default_system() -> None:
    template = Session().build("templates", {"name": "chatml", "default_system": "Be kind."})
    text = modelfile(template, "model-q4_k_m.gguf",
                     parameters=[("temperature", 0.7), ("stop", "###")])
    lines = text.splitlines()
    assert lines[1] == "FROM ./model-q4_k_m.gguf"
    assert 'SYSTEM """Be kind."""' in lines
    assert lines[-3:] == ['PARAMETER stop "<|im_end|>"', "PARAMETER temperature 0.7",
                          'PARAMETER stop "###"']


@pytest.mark.parametrize("name", ["hf", "glm4", "llama3.1", "baichuan2"])
def test_templates_beyond_their_slots_are_refused_with_the_reason(name: str) -> None:
    template = Session().build("templates", name)
    with pytest.raises(ConfigError, match=f"template {name!r}"):
        check_slots(template)
