"""Built-in chat templates, one per model family, plus ``hf`` for any Jinja template.

Every template renders exactly what its model's own chat template renders, as segments
with the trainable spans (the answers and their end-of-turn tokens) marked. The family
modules say which upstream template each one follows; ``docs/templates.md`` lists them.

Each also reads its model's replies back (``parse_reply``, ``reply_stream``): tool calls
for ``qwen``/``qwen2``/``qwen3`` (``<tool_call>`` JSON), ``llama3.1`` (JSON calls) and
``glm4`` (``name\\n{arguments}`` items), ``<think>`` reasoning for ``qwen3`` and
``deepseek-r1``; every other family's reply is all content.
"""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.templates.families import FAMILIES
from plugtune.plugins.templates.glm4 import GLM4Template
from plugtune.plugins.templates.hf import HFTemplate
from plugtune.plugins.templates.llama31 import Llama31Template
from plugtune.plugins.templates.qwen import Qwen2Template, QwenTemplate
from plugtune.plugins.templates.qwen3 import Qwen3Template

TEMPLATES: tuple[type, ...] = (
    QwenTemplate,
    Qwen2Template,
    Qwen3Template,
    Llama31Template,
    GLM4Template,
    *FAMILIES,
    HFTemplate,
)


@hookimpl
def register_templates(register: Any) -> None:
    for template in TEMPLATES:
        register(template.name, template)
