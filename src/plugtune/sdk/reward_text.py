"""What the built-in rewards share: the text of a completion, normalised answers, words,
numbers and answer extraction.

TRL hands rewards completions as strings, or, for conversational data, as lists of
message dicts (``[{"role": "assistant", "content": "…"}]``); prompts likewise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

# Scripts written without spaces between words: each character counts as one word.
_NO_SPACES = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0002ffff"
)
_WORD = re.compile(rf"[{_NO_SPACES}]|\d+(?:[.,]\d+)*|(?:(?![{_NO_SPACES}])[^\W_])+(?:'[^\W_]+)*")
_NUMBER = re.compile(r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|[-+−]?\.\d+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACES = re.compile(r"\s+")


def content_text(content: Any) -> str:
    """A message's ``content``: a string, or OpenAI-style text parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) else str(part) for part in content
        )
    return str(content)


def _message_text(value: Any, role: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return content_text(value.get("content"))
    messages = [m for m in value if isinstance(m, Mapping)]
    chosen = [m for m in messages if m.get("role") == role] or messages
    return content_text(chosen[-1].get("content")) if chosen else ""


def completion_text(completion: Any) -> str:
    """The text of one completion: the string itself, or the content of the last
    assistant message of a conversational completion.

    >>> completion_text([{"role": "assistant", "content": "42"}])
    '42'
    """
    return _message_text(completion, "assistant")


def prompt_text(prompt: Any) -> str:
    """The text of one prompt: the string itself, or the last user message's content."""
    return _message_text(prompt, "user")


def normalize(text: str) -> str:
    """The form answers are compared in: NFKC (full-width → ASCII), case-folded, thousands
    separators removed, whitespace collapsed, surrounding punctuation stripped.

    >>> normalize("  The  ANSWER: 1,234. ")
    'the answer: 1234'
    >>> normalize("「北京」。")
    '北京'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]) and not _starts_number(text, start):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def _starts_number(text: str, index: int) -> bool:
    """A sign or a decimal point right before a digit (``-3``, ``.5``) is no punctuation."""
    return text[index] in "-." and text[index + 1 : index + 2].isdigit()


def words(text: str) -> list[str]:
    """Words for counting and overlap: runs of letters or digits, and each CJK character
    on its own (Chinese and Japanese are written without spaces).

    >>> words("Hello, world! 你好")
    ['Hello', 'world', '你', '好']
    """
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def parse_number(text: str) -> float | None:
    """``text`` as a number (``1,234``, ``-3.5``, ``1/2``, ``50%``, ``$7``), or None."""
    cleaned = normalize(text.replace("−", "-")).replace(" ", "")
    cleaned = cleaned.removesuffix("%").lstrip("$€£¥")
    if not cleaned or not _NUMBER.fullmatch(cleaned):
        return None
    numerator, _, denominator = cleaned.partition("/")
    try:
        value = float(numerator.replace(",", ""))
        return value / float(denominator) if denominator else value
    except (ValueError, ZeroDivisionError):
        return None


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (``"so 3 + 4 = 7."`` → 7.0), or None."""
    found = _NUMBER.findall(unicodedata.normalize("NFKC", text))
    return parse_number(found[-1]) if found else None


def extract(text: str, pattern: re.Pattern[str] | None) -> str | None:
    """The first group (else the whole match) of the last match of ``pattern`` in
    ``text``; None when it does not match. No pattern: the text itself."""
    if pattern is None:
        return text
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    return last.group(1) if pattern.groups else last.group(0)


def compile_pattern(pattern: str, *, dotall: bool = True, ignore_case: bool = False) -> re.Pattern:
    """``re.compile`` with the flags the options name (errors are pydantic's to report)."""
    flags = (re.DOTALL if dotall else 0) | (re.IGNORECASE if ignore_case else 0)
    return re.compile(pattern, flags)


def check_pattern(pattern: str | None) -> str | None:
    """A pydantic validator body: the pattern, if it compiles."""
    if pattern:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
    return pattern


def as_list(value: Any) -> list[Any]:
    """A column value as a list of references: None → [], a scalar → [it]."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return [value]
    return [item for item in value if item is not None]


def column(columns: Mapping[str, Any], name: str, count: int, reward: str) -> list[Any]:
    """The batch's values of one dataset column, checked to have one value per sample."""
    if name not in columns:
        known = ", ".join(sorted(k for k in columns if isinstance(columns[k], list))) or "none"
        raise ValueError(f"{reward} needs a {name!r} column in the data; columns: {known}")
    values = columns[name]
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != count:
        raise ValueError(f"column {name!r} should hold one value per completion ({count})")
    return list(values)
