"""Deploying the real model: the Ollama Modelfile plugtune writes for SmolLM2-135M-Instruct
prompts it as its own tokenizer does. ``template: auto`` finds the tokenizer's Jinja
(``hf``), which has no Go counterpart (``export --ollama`` refuses it); the template to
export with is ``chatml`` with SmolLM2's default system prompt, and Go's ``text/template``
(what Ollama runs) renders SmolLM2's chats through its Modelfile exactly as
``tokenizer.apply_chat_template`` does. The GGUF round trip of the trained model, scored,
is ``benchmarks/real_learning.py --families deploy``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugtune import Session
from plugtune.deploy.ollama import modelfile
from tests.conftest import REAL_MODEL, needs, needs_real_model
from tests.ollama_rendering import CHATS, block, go_render, ollama_messages

SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@needs_real_model
@needs(shutil.which("go") is not None, "Go (Debian's golang-go)")
@pytest.mark.slow
def test_the_modelfile_renders_smollm2_chats_as_its_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from plugtune.models import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(REAL_MODEL))
    template = Session().build("templates", {"name": "chatml",
                                             "default_system": SMOLLM2_SYSTEM})
    text = modelfile(template, "model.gguf")
    chats = [[{"role": m.role, "content": m.content} for m in chat] for chat in CHATS]
    want = [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            for chat in chats]
    case = {"Template": block("TEMPLATE", text),
            "Chats": [ollama_messages(chat, block("SYSTEM", text)) for chat in CHATS]}
    assert go_render([case], tmp_path)[0] == want
    assert any(SMOLLM2_SYSTEM in rendered for rendered in want)  # the default was used
