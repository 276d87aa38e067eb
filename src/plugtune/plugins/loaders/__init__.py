"""Built-in loaders: one data format each, turning a source row into a canonical record.

Reading files, registries, mixing and the bad-record policy live in ``plugtune.data``;
a format here only says what one row means (see docs/data.md).
"""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.loaders.alpaca import AlpacaLoader
from plugtune.plugins.loaders.context_target import ContextTargetLoader
from plugtune.plugins.loaders.gold_bad import GoldBadLoader
from plugtune.plugins.loaders.kto import KTOLoader
from plugtune.plugins.loaders.multiple_choice import CevalLoader, CmmluLoader, MmluLoader
from plugtune.plugins.loaders.openai import OpenAILoader
from plugtune.plugins.loaders.preference import PreferenceLoader
from plugtune.plugins.loaders.prompt_answer import PromptAnswerLoader
from plugtune.plugins.loaders.sharegpt import SharegptLoader
from plugtune.plugins.loaders.text import TextLoader

LOADERS = (
    AlpacaLoader,
    SharegptLoader,
    OpenAILoader,
    PreferenceLoader,
    KTOLoader,
    TextLoader,
    ContextTargetLoader,
    GoldBadLoader,
    PromptAnswerLoader,
    CevalLoader,
    MmluLoader,
    CmmluLoader,
)


@hookimpl
def register_loaders(register: Any) -> None:
    for loader in LOADERS:
        register(loader.name, loader)
