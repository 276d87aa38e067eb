"""``data.overflow: turns``: an example longer than ``cutoff_len`` cut turn by turn, each
turn's prompt and answer in proportion, the way LLaMA-Factory cuts (its ``infer_seqlen``).

Why it exists: plugtune's default (``truncate``) keeps the start and cuts the end, so a
prompt longer than ``cutoff_len`` leaves no answer and the example is dropped. LLaMA-
Factory instead shares each turn's room between prompt and answer: an answer under half
the room is kept whole, else a prompt under half is, else both shrink in proportion to
their lengths; turns are taken in order until the room is gone. A run read from a
LLaMA-Factory config uses this, so both tools train the same examples, in the same
order: one example more or less changes the seeded shuffle of every batch after it.

Turns are found on the labels: a run of untrained tokens (the prompt: system, user
turn, assistant header) followed by a run of trained tokens (the answer); untrained
tokens after the last answer (a newline after its end-of-turn token) count with that
answer, as they are part of LLaMA-Factory's answer. Between turns that newline counts
with the next prompt (a one-token difference from LLaMA-Factory in multi-turn rows).
"""

from __future__ import annotations

from collections.abc import Sequence


def turn_budget(prompt: int, answer: int, room: int) -> tuple[int, int]:
    """How many of a turn's ``prompt`` and ``answer`` tokens fit in ``room``."""
    if answer * 2 < room:
        answer_room = room
    elif prompt * 2 < room:
        answer_room = room - prompt
    else:
        answer_room = int(room * answer / (prompt + answer))
    kept_answer = min(answer_room, answer)
    return min(max(room - kept_answer, 0), prompt), kept_answer


def turns(labels: Sequence[int], ignore: int) -> list[tuple[int, int, int]]:
    """``(start, prompt tokens, answer tokens)`` of each turn of an encoded example
    (``ignore``: the label of untrained tokens)."""
    found: list[tuple[int, int, int]] = []
    position, end = 0, len(labels)
    while position < end:
        start = position
        while position < end and labels[position] == ignore:
            position += 1
        prompt = position - start
        while position < end and labels[position] != ignore:
            position += 1
        answer = position - start - prompt
        if answer == 0 and found:  # untrained tokens after the last answer
            begin, kept_prompt, kept_answer = found[-1]
            found[-1] = (begin, kept_prompt, kept_answer + prompt)
        else:
            found.append((start, prompt, answer))
    return found


def cut_turns(ids: Sequence[int], labels: Sequence[int], cutoff_len: int,
              ignore: int) -> tuple[list[int], list[int]]:
    """``ids`` and ``labels`` cut to ``cutoff_len`` turn by turn (see the module)."""
    kept_ids: list[int] = []
    kept_labels: list[int] = []
    for start, prompt, answer in turns(labels, ignore):
        room = cutoff_len - len(kept_ids)
        if room <= 0:
            break
        kept_prompt, kept_answer = turn_budget(prompt, answer, room)
        for begin, count in ((start, kept_prompt), (start + prompt, kept_answer)):
            kept_ids += ids[begin:begin + count]
            kept_labels += labels[begin:begin + count]
    return kept_ids, kept_labels
