"""ShareGPT rows: ``conversations`` of ``{"from", "value"}`` with human/gpt/system/
function_call/observation, plus ``system`` and ``tools`` columns; LLaMA-Factory's
``tags`` respell the roles (``role_tag: role``, ``user_tag: user``, …)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from plugtune.plugins.loaders.chat import CHAT_COLUMNS, ChatLoader
from plugtune.plugins.loaders.format_options import (
    SHAREGPT_TAGS,
    DefaultKey,
    RankingChatOptions,
    Tags,
)


class SharegptOptions(RankingChatOptions):
    DEFAULT_TAGS: ClassVar[Tags] = SHAREGPT_TAGS
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        **CHAT_COLUMNS,
        "messages": ("conversations", "messages"),
    }


class SharegptLoader(ChatLoader):
    """ShareGPT: from/value messages with function calls, observations, system and tools."""

    name = "sharegpt"
    Options = SharegptOptions
