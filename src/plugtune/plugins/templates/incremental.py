"""Segments of an arbitrary Jinja template, found by rendering prefixes of a conversation.

The way TRL and LLaMA-Factory mask an unknown template: an answer starts where the
rendering of the messages before it plus the generation prompt ends, and ends with the
first stop string after its text; whatever the template writes after that (a newline,
the next turn) is not trained. Each message's other text is found the same way, from
the rendering of the conversation up to it.

This is only right for *prefix-stable* templates, whose rendering of a conversation
starts with their rendering of any prefix of it. Templates that rewrite earlier turns
once later ones exist (Qwen3 drops old reasoning, and writes an empty ``<think>`` block
only in the final answer) are not; :class:`NotPrefixStable` then says where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plugtune.core.interfaces import Segment
from plugtune.sdk.templates.family import SegmentBuilder, TemplateError

#: ``render(messages, add_generation_prompt) -> text``
Renderer = Callable[[list[dict[str, Any]], bool], str]


class NotPrefixStable(TemplateError):
    """The template renders a turn differently once later turns follow it."""


def incremental_segments(
    render: Renderer,
    messages: list[dict[str, Any]],
    *,
    add_generation_prompt: bool,
    stop_strings: Sequence[str],
) -> list[Segment]:
    renders: dict[tuple[int, bool], str] = {}

    def prefix(count: int, generation_prompt: bool) -> str:
        key = (count, generation_prompt)
        if key not in renders:
            renders[key] = render(messages[:count], generation_prompt)
        return renders[key]

    full = render(messages, add_generation_prompt)
    out = SegmentBuilder()
    position = 0
    for index, message in enumerate(messages):
        if message["role"] == "assistant" and index:
            position = _answer(out, prefix, messages, index, full, position, stop_strings)
            continue
        try:
            end = _common_length(prefix(index + 1, False), full)
        except TemplateError:  # some templates refuse a partial conversation (Llama 3.1
            continue  # with tools and no user turn yet): the text goes with the next one
        following = messages[index + 1]["role"] if index + 1 < len(messages) else None
        if following == "assistant":  # never claim the header of the answer that follows
            end = min(end, len(prefix(index + 1, True)))
        if end > position:
            out.add(full[position:end], index)
            position = end
    out.add(full[position:])
    return out.build()


def _answer(
    out: SegmentBuilder,
    prefix: Callable[[int, bool], str],
    messages: list[dict[str, Any]],
    index: int,
    full: str,
    position: int,
    stop_strings: Sequence[str],
) -> int:
    """Add message ``index``, an answer; return the position after it."""
    prompt = prefix(index, True)
    if not full.startswith(prompt):
        raise NotPrefixStable(
            f"the text before messages[{index}] (with the generation prompt) is rendered "
            "differently once the rest of the conversation follows"
        )
    alone = prefix(index + 1, False)
    if not alone.startswith(prompt):
        raise NotPrefixStable(
            f"messages[{index}] does not start with the generation prompt that precedes it"
        )
    start = len(prompt)
    answer = alone[start:]
    stop = end_of_answer(answer, messages[index].get("content") or "", stop_strings)
    end = start + _common_length(answer, full[start:])
    if stop is None:
        stop = len(full[start:end].rstrip())
    if start + stop > end:
        raise NotPrefixStable(
            f"messages[{index}] is rendered differently once later messages follow it"
        )
    out.add(full[position:start], index)
    out.add(full[start : start + stop], index, True)
    out.add(full[start + stop : end], index)
    return end


def end_of_answer(answer: str, content: str, stop_strings: Sequence[str]) -> int | None:
    """Where the first stop string after the answer's own text ends, if there is one."""
    visible = content.strip()
    after = 0
    if visible and (found := answer.find(visible)) >= 0:
        after = found + len(visible)
    found = [
        (at, -len(stop)) for stop in stop_strings if stop and (at := answer.find(stop, after)) >= 0
    ]
    if not found:
        return None
    at, minus_length = min(found)  # the earliest; the longest of those starting there
    return at - minus_length


def _common_length(a: str, b: str) -> int:
    """The length of the longest common prefix (by bisection: slices compare in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
