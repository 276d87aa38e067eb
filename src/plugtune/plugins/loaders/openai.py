"""OpenAI chat rows: ``messages`` (or ``conversations``) of ``{"role", "content"}``, with
``tool_calls`` on assistant messages and ``tool`` results; also ranking and KTO like
sharegpt (LLaMA-Factory treats this format as sharegpt with OpenAI tags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from plugtune.plugins.loaders.chat import CHAT_COLUMNS, ChatLoader
from plugtune.plugins.loaders.format_options import (
    OPENAI_TAGS,
    DefaultKey,
    RankingChatOptions,
    Tags,
)


class OpenAIOptions(RankingChatOptions):
    DEFAULT_TAGS: ClassVar[Tags] = OPENAI_TAGS
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = CHAT_COLUMNS


class OpenAILoader(ChatLoader):
    """OpenAI messages: role/content with tool calls and tool results."""

    name = "openai"
    Options = OpenAIOptions
