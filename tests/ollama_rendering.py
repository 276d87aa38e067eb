"""Rendering a Modelfile's template as Ollama does: Go's ``text/template`` on the messages
Ollama builds (the tests of the Ollama export and of the real model's deployment share
it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from plugtune.core.records import Message
from plugtune.deploy.ollama import PROBES

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

def block(directive: str, modelfile_text: str) -> str | None:
    found = re.search(rf'^{directive} """(.*?)"""$', modelfile_text, re.S | re.M)
    return found.group(1) if found else None


def ollama_messages(chat: tuple[Message, ...], system: str | None) -> list[dict[str, str]]:
    """The messages Ollama renders: SYSTEM in front of a chat without a system turn."""
    messages = [{"Role": m.role, "Content": m.content} for m in chat]
    if system is not None and chat[0].role != "system":
        messages.insert(0, {"Role": "system", "Content": system})
    return messages


def go_render(cases: list[dict[str, Any]], folder: Path) -> list[list[str]]:
    """Each case's ``Template`` rendered by Go for each of its ``Chats`` (messages as
    :func:`ollama_messages` gives them), built and run in ``folder``, offline."""
    program = folder / "render.go"
    program.write_text(RENDERER)
    environment = {"PATH": os.environ["PATH"], "HOME": str(folder),
                   "GOCACHE": str(folder / "cache"), "GO111MODULE": "off"}
    result = subprocess.run(["go", "run", str(program)], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
