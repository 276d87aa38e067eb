"""The Modelfile's TEMPLATE, rendered by Go's ``text/template`` (what Ollama runs), writes
exactly what the run's template renders, for every built-in template declared as slots;
the others are refused with the reason. Go comes from Debian's ``golang-go`` (``make
test`` installs it); without it the rendering test skips here and fails on CI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from plugtune import Session
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, Message
from plugtune.deploy.ollama import PROBES, check_slots, modelfile
from tests.conftest import needs

# Ollama's data for a chat: messages with Role and Content (Ollama puts the Modelfile's
# SYSTEM in front of a chat that has no system message before rendering).
RENDERER = """
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Message struct {
	Role    string
	Content string
}

type Case struct {
	Template string
	Chats    [][]Message
}

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := [][]string{}
	for _, c := range cases {
		parsed := template.Must(template.New("modelfile").Parse(c.Template))
		texts := []string{}
		for _, chat := range c.Chats {
			var text strings.Builder
			data := map[string]any{"Messages": chat}
			if err := parsed.Execute(&text, data); err != nil {
				panic(err)
			}
			texts = append(texts, text.String())
		}
		out = append(out, texts)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""
CHATS = (*PROBES, (Message("system", "多行\n系统"), Message("user", 'Quote "this" {{ .x }}'),
                   Message("assistant", "a\tb"), Message("user", "again")))
SLOT_TEMPLATES = ("chatglm3", "chatml", "deepseek-r1", "gemma", "internlm2", "llama3",
                  "mistral", "phi3", "qwen", "qwen2", "qwen3", "yi")


def block(directive: str, modelfile_text: str) -> str | None:
    found = re.search(rf'^{directive} """(.*?)"""$', modelfile_text, re.S | re.M)
    return found.group(1) if found else None


def rendered_chats(template: ChatTemplate) -> list[tuple[tuple[Message, ...], str]]:
    """Each chat the template accepts, with what it renders for the next answer."""
    chats = []
    for chat in CHATS:
        try:
            chats.append((chat, template.render(Conversation(chat), add_generation_prompt=True)))
        except PlugtuneError:
            continue  # a system turn for a family without one
    return chats


def ollama_messages(chat: tuple[Message, ...], system: str | None) -> list[dict[str, str]]:
    """The messages Ollama renders: SYSTEM in front of a chat without a system turn."""
    messages = [{"Role": m.role, "Content": m.content} for m in chat]
    if system is not None and chat[0].role != "system":
        messages.insert(0, {"Role": "system", "Content": system})
    return messages


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
    program = tmp_path / "render.go"
    program.write_text(RENDERER)
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                   "GOCACHE": str(tmp_path / "cache"), "GO111MODULE": "off"}
    result = subprocess.run(["go", "run", str(program)], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    for template, want, got in zip(templates, expected, json.loads(result.stdout), strict=True):
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
