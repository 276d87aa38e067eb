"""The plugin author's kit: what plugins and the library share, below the library and
above the core. Each module imports only the core (and the standard library) at module
level, so a plugin importing it stays cheap to register.

- :mod:`plugtune.sdk.templates`: :class:`~plugtune.sdk.templates.Slots` and
  :class:`~plugtune.sdk.templates.SlotTemplate` (a chat family declared as strings, its
  Jinja written for it), segment building, the Jinja environment
  ``apply_chat_template`` uses, and template recognition by digest;
- :mod:`plugtune.sdk.reward_text`: the text of completions and prompts, answer
  normalisation, words, numbers and answer extraction for rewards (and metrics);
- :mod:`plugtune.sdk.backends`: answers from generated ids with stop strings and
  streaming (:mod:`~plugtune.sdk.backends.decoding`), stop criteria, PEFT adapters by
  name, images through a model's processor;
- :mod:`plugtune.sdk.multiple_choice`: the lettered-choices question and the CSV files
  benchmark layouts read;
- :mod:`plugtune.sdk.cli`: the session and run config a command plugin works with;
- :mod:`plugtune.sdk.testing`: checks for a plugin's own tests (a template's loss mask,
  its Jinja's parity).

Trainer plugins also build on the library's documented entry points in
:mod:`plugtune.training` (the causal-LM loop, encoded rows, the trainable model).
"""

from __future__ import annotations

from plugtune.sdk.backends.decoding import Answer, answer_from_ids, cut_at_stop
from plugtune.sdk.multiple_choice import LETTERS, format_question, read_csv_rows
from plugtune.sdk.reward_text import completion_text, normalize, prompt_text, words
from plugtune.sdk.templates import Slots, SlotTemplate, TemplateBase, TemplateError
from plugtune.sdk.testing import check_chat_template, check_jinja_parity

__all__ = [
    "LETTERS",
    "Answer",
    "SlotTemplate",
    "Slots",
    "TemplateBase",
    "TemplateError",
    "answer_from_ids",
    "check_chat_template",
    "check_jinja_parity",
    "completion_text",
    "cut_at_stop",
    "format_question",
    "normalize",
    "prompt_text",
    "read_csv_rows",
    "words",
]
