"""``/v1/chat/completions``: a validated request fitted to the context, queued, and
answered whole or as server-sent events (``chat.completion.chunk``), with ``n``
choices, token logprobs, and the reply split into content, reasoning and tool calls by
the template that rendered the prompt (:mod:`plugtune.inference.replies`). With the run's
tools, a request without its own is played as an episode
(:mod:`plugtune.inference.served_episodes`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from plugtune.agents.environments import Episodes
from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.records import Conversation
from plugtune.inference.answering import CLIENT_GONE, Answering, server_event
from plugtune.inference.http_bodies import RequestError
from plugtune.inference.openai_requests import (
    ChatRequest,
    parse_request,
    to_conversation,
    to_params,
)
from plugtune.inference.replies import ReplyParser, chat_logprobs, finish_reason, usage
from plugtune.inference.served_episodes import (
    PlayedChoices,
    play_choices,
    start_choices,
)
from plugtune.sdk.backends.decoding import Answer


class ChatCompletions:
    """Answers chat completions for one served model; ``episodes``: the run's tools,
    played for requests that bring none of their own (None: no tools of the server's)."""

    def __init__(self, answering: Answering, model_name: str, defaults: GenerationConfig,
                 augment: Callable[[Conversation], Conversation] | None = None,
                 episodes: Episodes | None = None) -> None:
        self.answering, self.model_name, self.defaults = answering, model_name, defaults
        self.augment = augment
        self.episodes = episodes
        self.backend = answering.backend

    async def answer(self, body: Any, http_request: Request) -> Any:
        """The response to one request body: a completion, or a stream of chunks."""
        request = parse_request(body)
        check_model(request.model, self.model_name)
        parser = ReplyParser.for_template(getattr(self.backend, "template", None),
                                          request.chat_template_kwargs)
        conversation = to_conversation(request,
                                       takes_images=getattr(self.backend, "takes_images", False))
        if self.augment is not None:
            conversation = await run_in_threadpool(self.augment, conversation)
        asked = request.max_completion_tokens or request.max_tokens
        params = to_params(request, self.defaults, asked)
        if self.episodes is not None and not conversation.tools:
            return await self._played(http_request, request, conversation, params, parser,
                                      asked)
        top = (request.top_logprobs or 0) if request.logprobs else None
        choices = [self.answering.request(conversation, logprobs=top, template=parser.template)
                   for _ in range(request.n)]
        prompt_tokens = await self.answering.prompt_tokens(choices[0])
        params = self.answering.fit(params, prompt_tokens, asked)
        completion = _Completion(f"chatcmpl-{uuid.uuid4().hex}", self.model_name, request,
                                 params, prompt_tokens, parser)
        return await self.answering.respond(http_request, choices, params, completion,
                                            stream=request.stream)

    async def _played(self, http_request: Request, request: ChatRequest,
                      conversation: Conversation, params: GenerationConfig,
                      parser: ReplyParser, asked: int | None) -> Any:
        """The choices played as episodes with the run's tools: each final reply, with
        the episode (its calls and their results) beside the message, and the usage of
        every turn (the prompt counted once, with the tools it offers). Streamed, the
        final replies come whole once played."""
        assert self.episodes is not None
        if request.logprobs:
            raise RequestError("logprobs: not with the server's tools (an answer is "
                               "several turns)", param="logprobs")
        played = await start_choices(self.episodes, conversation, request.n, request.metadata)
        first = self.answering.request(played.episodes[0].conversation,
                                       template=parser.template)
        prompt_tokens = await self.answering.prompt_tokens(first)
        params = self.answering.fit(params, prompt_tokens, asked)
        completion = _Completion(f"chatcmpl-{uuid.uuid4().hex}", self.model_name, request,
                                 params, prompt_tokens, parser)
        if not await play_choices(played, self.answering, http_request, params,
                                  parser.template):
            return Response(status_code=CLIENT_GONE)
        if request.stream:
            return StreamingResponse(completion.chunks(played.final_events(), played),
                                     media_type="text/event-stream")
        return completion.whole(played.last, played)


class _Completion:
    """One completion's id, choices and usage, whole or as chunks."""

    def __init__(self, completion_id: str, model_name: str, request: ChatRequest,
                 params: GenerationConfig, prompt_tokens: int | None,
                 parser: ReplyParser) -> None:
        self.base = {"id": completion_id, "created": int(time.time()), "model": model_name}
        self.request, self.params, self.prompt_tokens = request, params, prompt_tokens
        self.parser = parser

    def whole(self, answers: list[Answer | str],
              played: PlayedChoices | None = None) -> dict[str, Any]:
        """The completion; ``played``: the episodes the answers end (each choice shows
        its ``episode``; the usage counts every turn)."""
        choices = []
        for index, answer in enumerate(answers):
            reply = self.parser.parse(answer)
            choices.append({
                "index": index, "message": {"role": "assistant", **reply.message()},
                "logprobs": chat_logprobs(answer) if self.request.logprobs else None,
                "finish_reason": finish_reason(answer, self.params, bool(reply.tool_calls)),
                **({"episode": played.episodes[index].summary()} if played else {}),
            })
        return {**self.base, "object": "chat.completion", "choices": choices,
                "usage": usage(self.prompt_tokens, played.turns if played else answers)}

    def chunk(self, index: int, delta: dict[str, Any], finish: str | None = None,
              logprobs: Any = None) -> str:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return server_event({**self.base, "object": "chat.completion.chunk", "choices": [choice]})

    async def chunks(self, events: AsyncIterator[tuple[int, Answer | str, bool]],
                     played: PlayedChoices | None = None) -> AsyncIterator[str]:
        """Server-sent events: per choice a role chunk, a chunk per delta (content,
        reasoning, a tool call), its finish reason; then the usage (if asked) and
        ``[DONE]``. An error after the headers are sent goes in the stream. ``played``:
        the episodes the answers end (the usage counts every turn)."""
        streams = [self.parser.stream() for _ in range(self.request.n)]
        answers: list[Answer | str] = []
        for index in range(self.request.n):
            yield self.chunk(index, {"role": "assistant", "content": ""})
        try:
            async for index, item, finished in events:
                if not finished:
                    for delta in streams[index].feed(item):
                        yield self.chunk(index, delta)
                    continue
                answers.append(item)
                for delta in streams[index].finish():
                    yield self.chunk(index, delta)
                # A streamed choice's logprobs come with its last chunk, all at once.
                yield self.chunk(index, {}, finish_reason(
                    item, self.params, streams[index].saw_tool_calls),
                    logprobs=chat_logprobs(item) if self.request.logprobs else None)
        except (PlugtuneError, RequestError) as error:
            yield server_event({"error": {"message": str(error)}})
            return
        if self.request.include_usage:
            yield server_event({**self.base, "object": "chat.completion.chunk", "choices": [],
                          "usage": usage(self.prompt_tokens,
                                         played.turns if played else answers)})
        yield "data: [DONE]\n\n"


def check_model(asked: str | None, served: str) -> None:
    """404 for a model this server does not serve (none named: the served one)."""
    if asked not in (None, served):
        raise RequestError(f"model {asked!r} is not served here; this server serves "
                           f"{served!r}", param="model", status=404, code="model_not_found")

