"""Options shared by the loaders: column remapping, sharegpt tags, ranking, media folder.

Every format reads its fields through logical names (LLaMA-Factory's: ``prompt``,
``query``, ``response``, ``messages``, ``chosen``, …) so that one ``columns`` option
remaps any of them, and a registry entry's ``columns`` and ``tags`` pass through
unchanged. A format declares its logical names and their default keys in ``COLUMNS``;
a name it does not know is an error with a suggestion, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugtune.core.validation import did_you_mean

# A default key, several keys tried in order (the first present in the row wins), or
# None: the column is not read unless ``columns`` names it.
DefaultKey = str | tuple[str, ...] | None

MEDIA_COLUMNS: dict[str, DefaultKey] = {"images": "images", "videos": "videos", "audios": "audios"}


class LoaderOptions(BaseModel):
    """What every format accepts: ``columns`` (logical name → the row's key; ``null``
    switches a column off) and ``media_dir`` (where relative media paths live)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {}

    columns: dict[str, str | None] = Field(
        default_factory=dict, description="Logical column name -> the key in your rows."
    )
    media_dir: str | None = Field(
        None, description="Folder that relative image/video/audio paths are relative to."
    )

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for name in value:
            if name not in cls.COLUMNS:
                known = ", ".join(cls.COLUMNS)
                raise ValueError(
                    f"unknown column {name!r}{did_you_mean(name, cls.COLUMNS)}; known: {known}"
                )
        return value

    @property
    def ranking_wanted(self) -> bool:
        """Whether rows are preference pairs; formats with a ``ranking`` option override."""
        return False

    def column_keys(self) -> dict[str, tuple[str, ...]]:
        """Each logical name with the row keys to try, overrides applied."""
        keys: dict[str, tuple[str, ...]] = {}
        for name, default in self.COLUMNS.items():
            chosen = self.columns.get(name, default)
            if chosen is None:
                keys[name] = ()
            else:
                keys[name] = (chosen,) if isinstance(chosen, str) else tuple(chosen)
        return keys


class RankingOptions(LoaderOptions):
    """Formats whose rows may be preference pairs (LLaMA-Factory's ``ranking: true``)."""

    ranking: bool = Field(False, description="Rows are chosen/rejected preference pairs.")

    @property
    def ranking_wanted(self) -> bool:
        return self.ranking


@dataclass(frozen=True, slots=True)
class Tags:
    """How messages spell roles: LLaMA-Factory's sharegpt ``tags``, one field per tag."""

    role_tag: str
    content_tag: str
    user_tag: str
    assistant_tag: str
    observation_tag: str
    function_tag: str
    system_tag: str

    def roles(self) -> dict[str, str]:
        """Tag value → canonical role; ``function`` marks a tool call written as text."""
        return {
            self.system_tag: "system",
            self.user_tag: "user",
            self.assistant_tag: "assistant",
            self.observation_tag: "tool",
            self.function_tag: "function",
        }


SHAREGPT_TAGS = Tags("from", "value", "human", "gpt", "observation", "function_call", "system")
OPENAI_TAGS = Tags("role", "content", "user", "assistant", "tool", "function_call", "system")
TAG_NAMES = tuple(Tags.__dataclass_fields__)


class ChatOptions(LoaderOptions):
    """Formats that read message lists: ``tags`` overrides how roles are spelt."""

    DEFAULT_TAGS: ClassVar[Tags] = OPENAI_TAGS

    tags: dict[str, str] = Field(
        default_factory=dict, description="role_tag, content_tag, user_tag, … (sharegpt)."
    )

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name not in TAG_NAMES:
                hint = did_you_mean(name, TAG_NAMES)
                raise ValueError(f"unknown tag {name!r}{hint}; known: {', '.join(TAG_NAMES)}")
        return value

    def tag_set(self) -> Tags:
        defaults = {name: getattr(self.DEFAULT_TAGS, name) for name in TAG_NAMES}
        return Tags(**{**defaults, **self.tags})


class RankingChatOptions(ChatOptions, RankingOptions):
    """Message-list formats that may also hold preference pairs (sharegpt, openai)."""
