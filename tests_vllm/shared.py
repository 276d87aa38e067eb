"""What the vLLM test modules share: questions, settings, and the transformers reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.records import Conversation, Message

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "hi",
    "What is the capital of France? Answer in one word, please, and nothing else.",
    "LoRA",
    "Translate to Chinese: Low-rank adaptation",
    "Name the plugin kinds of plugtune.",
]
GREEDY = GenerationConfig(max_new_tokens=12)
# float32: what the transformers backend runs on a CPU, so greedy answers can be compared
# token for token (bfloat16 rounds the tiny model's logits differently).
MODEL = {"path": "tiny://qwen2", "dtype": "float32"}
ENGINE = {"max_model_len": 512, "enforce_eager": True}


def ask(question: str) -> Conversation:
    return Conversation((Message("user", question),), origin=f"test:{question[:8]}")


def transformers_answers(session: Session, config: RunConfig, params: GenerationConfig,
                         adapter: tuple[str, str] | None = None) -> list[str]:
    """The transformers backend's answers to QUESTIONS (with ``adapter``: (name, path)):
    what vLLM must reproduce."""
    backend: Any = session.build("backends", {
        "name": "transformers", "device": "cpu", "batch_size": len(QUESTIONS),
        "adapters": dict([adapter]) if adapter else {},
    })
    backend.load(config, session)
    backend.use_adapter(adapter[0] if adapter else None)
    return backend.generate([ask(question) for question in QUESTIONS], params)
