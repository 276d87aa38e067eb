"""The plugin author's kit: what plugins and the library share, below the library and
above the core. Each module imports only the core (and the standard library) at module
level, so a plugin importing it stays cheap to register.

- :mod:`plugtune.sdk.templates`: :class:`~plugtune.sdk.templates.Slots` and
  :class:`~plugtune.sdk.templates.SlotTemplate` (a chat family declared as strings, its
  Jinja written for it), segment building, the Jinja environment
  ``apply_chat_template`` uses, template recognition by digest, reading a reply back
  into content, reasoning and tool calls (:class:`~plugtune.sdk.templates.ReplyFormat`
  from :class:`~plugtune.sdk.templates.ThinkBlock` and the call formats
  :class:`~plugtune.sdk.templates.TaggedCalls`, ``JsonCalls``, ``GLM4Calls``), and a
  template configured with a request's options (``with_template_options``);
- :mod:`plugtune.sdk.reward_text`: the text of completions and prompts, answer
  normalisation, words, numbers and answer extraction for rewards (and metrics);
- :mod:`plugtune.sdk.backends`: answers from generated ids with stop strings and
  streaming (:mod:`~plugtune.sdk.backends.decoding`), stop criteria, PEFT adapters by
  name, images through a model's processor;
- :mod:`plugtune.sdk.multiple_choice`: the lettered-choices question and the CSV files
  benchmark layouts read;
- :mod:`plugtune.sdk.cli`: the session and run config a command plugin works with;
- :mod:`plugtune.sdk.environments`: what an environment's class becomes — its tools
  (public methods, typed and documented) and their schemas;
- :mod:`plugtune.sdk.testing`: checks for a plugin's own tests (a template's loss mask,
  its Jinja's parity, its replies read back; an environment's reset, tools and reward).

Trainer plugins also build on the library's documented entry points in
:mod:`plugtune.training` (the causal-LM loop, encoded rows, the trainable model).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use: a plugin importing one SDK module (``sdk.turns``, say) does not
# pay for the others at ``plugtune --help``.
_EXPORTS = {
    "LETTERS": "multiple_choice",
    "Answer": "backends.decoding",
    "CHATML_SLOTS": "templates.slots",
    "GLM4Calls": "templates.tool_calls",
    "JsonCalls": "templates.tool_calls",
    "ParsesReplies": "templates.replies",
    "Reply": "templates.replies",
    "ReplyDelta": "templates.replies",
    "ReplyFormat": "templates.replies",
    "ReplyStream": "templates.replies",
    "SlotTemplate": "templates.slots",
    "Slots": "templates.slots",
    "TaggedCalls": "templates.tool_calls",
    "Tool": "environments",
    "TemplateBase": "templates.family",
    "TemplateError": "templates.family",
    "TemplateOptionsError": "templates.options",
    "ThinkBlock": "templates.replies",
    "WholeReplyCalls": "templates.tool_calls",
    "answer_from_ids": "backends.decoding",
    "check_chat_template": "testing",
    "check_environment": "testing",
    "check_jinja_parity": "testing",
    "completion_text": "reward_text",
    "cut_at_stop": "backends.decoding",
    "environment_tools": "environments",
    "format_question": "multiple_choice",
    "normalize": "reward_text",
    "prompt_text": "reward_text",
    "read_csv_rows": "multiple_choice",
    "tool_from_function": "environments",
    "with_template_options": "templates.options",
    "words": "reward_text",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'plugtune.sdk' has no attribute {name!r}")
    return getattr(import_module(f"plugtune.sdk.{_EXPORTS[name]}"), name)
