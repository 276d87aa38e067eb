"""Public names that moved, still importable from their old paths.

A plugin written against one release must keep importing on the next: a name that moves
keeps working from its old path for at least one minor version, with a
``DeprecationWarning`` that says the new path (docs/plugins.md, "Stability"). Each old
module's ``__getattr__`` is :func:`forward`'s. The new homes are imported by name on use,
so that the core forwards to the SDK without importing above it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

#: old module -> (new module, the names that moved); moved in 0.2.0, gone in 0.3.0.
MOVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "plugtune.core.interfaces": ("plugtune.sdk.backends.decoding", ("Answer",)),
    "plugtune.core.records": ("plugtune.sdk.turns", ("check_messages",)),
    "plugtune.plugins.rewards.text": (
        "plugtune.sdk.reward_text", ("completion_text", "prompt_text")),
    "plugtune.plugins.templates.jinja_env": (
        "plugtune.sdk.templates.jinja", ("render_chat_template",)),
    "plugtune.plugins.templates.matching": (
        "plugtune.sdk.templates.matching",
        ("digest_chat_template", "match_chat_template", "normalize_chat_template")),
    "plugtune.plugins.templates.slots": (
        "plugtune.sdk.templates.slots", ("CHATML_SLOTS", "SlotTemplate", "Slots", "fill")),
    "plugtune.testing": ("plugtune.sdk.testing", ("check_chat_template",)),
    "plugtune.training.export": (
        "plugtune.deploy.export",
        ("ShippedTokenizer", "export_model", "export_quantization", "find_adapter",
         "run_chat_template", "run_tokenizer", "set_stop_token_ids", "template_mismatch")),
}
REMOVED_IN = "0.3.0"


def forward(old_module: str) -> Callable[[str], object]:
    """The ``__getattr__`` of ``old_module``: its moved names, with a warning at each use."""
    new_module, names = MOVED[old_module]

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        warnings.warn(f"{old_module}.{name} moved to {new_module}.{name}: import it from "
                      f"there (the old path goes in plugtune {REMOVED_IN})",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new_module), name)

    return __getattr__
