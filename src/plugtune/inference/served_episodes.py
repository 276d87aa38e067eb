"""The run's tools behind ``/v1/chat/completions``: with the config's ``agent`` section, a
request that brings no ``tools`` of its own is answered as an episode, the way the model
was trained (:mod:`plugtune.agents`): the server offers the run's tools, runs each call
the model makes, gives it the results and answers with its final reply.

Every turn of every choice is queued like any request (batched with the others, stopped
when the client leaves or the deadline passes), and the tools run in a worker thread, so
an episode never holds the event loop. The request's ``metadata`` (OpenAI's field of
string pairs) are the environment's ``reset`` columns; its ``environment`` key picks the
environment, as a record's ``environment`` column does in training.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from plugtune.agents.environments import Episodes
from plugtune.agents.episode import Episode
from plugtune.core.config import GenerationConfig
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation
from plugtune.inference.answering import Answering
from plugtune.sdk.backends.decoding import Answer


class PlayedChoices:
    """A request's choices played to their ends: each episode and its last answer (the
    final reply), and every turn's answers (for the token usage)."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.episodes = episodes
        self.last: list[Answer | str] = ["" for _ in episodes]
        self.turns: list[Answer | str] = []

    async def final_events(self) -> AsyncIterator[tuple[int, Answer | str, bool]]:
        """The final replies as an answer stream would bring them: each one whole, as
        one piece, then finished."""
        for index, answer in enumerate(self.last):
            yield index, answer, False
            yield index, answer, True


async def start_choices(episodes: Episodes, conversation: Conversation, choices: int,
                        metadata: dict[str, str] | None) -> PlayedChoices:
    """``choices`` new episodes of ``conversation``; ``metadata``: the reset columns
    (its ``environment`` picks the environment)."""
    columns = dict(metadata or {})
    record = replace(conversation, meta={**conversation.meta, **columns})
    return PlayedChoices([await run_in_threadpool(episodes.start, record, columns)
                          for _ in range(choices)])


async def play_choices(played: PlayedChoices, answering: Answering, http_request: Request,
                       params: GenerationConfig, template: ChatTemplate | None) -> bool:
    """Play every episode to its end, each round's turns queued together; False when
    the client left first (then what was queued is stopped)."""
    going = list(range(len(played.episodes)))
    while going:
        requests = [answering.request(played.episodes[i].conversation, template=template)
                    for i in going]
        answers = await answering.answers(http_request, requests, params)
        if answers is None:
            return False
        played.turns += answers
        going = await _next_turns(played, going, answers)
    return True


async def _next_turns(played: PlayedChoices, going: Sequence[int],
                      answers: Sequence[Answer | str]) -> list[int]:
    """Give each episode its answer (a cut-off one ends it, ``length``); those whose
    calls the tools answered go on."""
    still = []
    for index, answer in zip(going, answers, strict=True):
        played.last[index] = answer
        episode = played.episodes[index]
        if getattr(answer, "finish_reason", None) == "length":
            episode.stop("length")
        elif await run_in_threadpool(episode.reply, str(answer)):
            still.append(index)
    return still
