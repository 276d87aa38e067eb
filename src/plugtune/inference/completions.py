"""``/v1/completions``: raw prompt text continued, no chat template (a base model's
API, and what lm-eval-harness style clients call). ``prompt`` is a string or a list of
strings (each answered ``n`` times), ``echo`` puts the prompt before the text,
``logprobs: k`` gives each generated token's logprob and its ``k`` best alternatives;
streamed as ``text_completion`` chunks. Needs a backend that takes raw prompts
(:class:`~plugtune.sdk.backends.requests.AnswersRequests`, as the transformers backend)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from pydantic import Field

from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.inference.answering import Answering, server_event
from plugtune.inference.chat_completions import check_model
from plugtune.inference.http_bodies import RequestError
from plugtune.inference.openai_requests import SamplingFields, to_params, validated
from plugtune.inference.replies import finish_reason, usage
from plugtune.sdk.backends.decoding import Answer
from plugtune.sdk.backends.requests import AnswersRequests

# OpenAI's default for this endpoint.
DEFAULT_MAX_TOKENS = 16


class CompletionRequest(SamplingFields):
    prompt: str | list[str] = Field(min_length=1)
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20)
    best_of: int | None = Field(None, ge=1, le=1)
    suffix: None = None


class TextCompletions:
    """Answers text completions for one served model."""

    def __init__(self, answering: Answering, model_name: str,
                 defaults: GenerationConfig) -> None:
        self.answering, self.model_name, self.defaults = answering, model_name, defaults

    async def answer(self, body: Any, http_request: Request) -> Any:
        request: CompletionRequest = validated(CompletionRequest, body)
        check_model(request.model, self.model_name)
        if not isinstance(self.answering.backend, AnswersRequests):
            raise RequestError("/v1/completions: this server's backend takes chat "
                               "conversations only; use /v1/chat/completions", status=404,
                               code="not_supported")
        prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
        if not all(prompts):
            raise RequestError("prompt: every prompt must be non-empty text", param="prompt")
        if request.echo and request.logprobs is not None:
            raise RequestError("echo with logprobs: plugtune scores generated tokens only, "
                               "not the prompt's; ask for one or the other", param="echo")
        asked = request.max_tokens or DEFAULT_MAX_TOKENS
        params = to_params(request, self.defaults, asked)
        choices = [self.answering.request(prompt=prompt, logprobs=request.logprobs)
                   for prompt in prompts for _ in range(request.n)]
        counts = [await self.answering.prompt_tokens(choice) for choice in choices[::request.n]]
        for count in counts:
            params = self.answering.fit(params, count, asked)
        completion = _TextCompletion(self.model_name, request, params, choices, counts)
        return await self.answering.respond(http_request, choices, params, completion,
                                            stream=request.stream)


class _TextCompletion:
    def __init__(self, model_name: str, request: CompletionRequest, params: GenerationConfig,
                 choices: list[Any], counts: list[int | None]) -> None:
        self.base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                     "created": int(time.time()), "model": model_name}
        self.request, self.params = request, params
        self.prompts = [choice.prompt for choice in choices]
        # Each prompt counted once, however many choices it has (as vLLM does).
        self.prompt_tokens = None if None in counts else sum(c for c in counts if c is not None)

    def choice(self, index: int, text: str, answer: Answer | str | None) -> dict[str, Any]:
        finished = answer is not None
        return {"index": index, "text": text,
                "logprobs": _logprobs(answer) if finished and self.request.logprobs is not None
                else None,
                "finish_reason": finish_reason(answer, self.params, False) if finished else None}

    def whole(self, answers: list[Answer | str]) -> dict[str, Any]:
        choices = [self.choice(index, self._echoed(index) + answer, answer)
                   for index, answer in enumerate(answers)]
        return {**self.base, "choices": choices, "usage": self._usage(answers)}

    async def chunks(self, events: AsyncIterator[tuple[int, Answer | str, bool]]
                     ) -> AsyncIterator[str]:
        answers = []
        if self.request.echo:
            for index in range(len(self.prompts)):
                yield server_event({**self.base, "choices": [self.choice(index, self._echoed(index),
                                                                   None)]})
        try:
            async for index, item, finished in events:
                if finished:
                    answers.append(item)
                choice = self.choice(index, "" if finished else item, item if finished else None)
                yield server_event({**self.base, "choices": [choice]})
        except (PlugtuneError, RequestError) as error:
            yield server_event({"error": {"message": str(error)}})
            return
        if self.request.include_usage:
            yield server_event({**self.base, "choices": [], "usage": self._usage(answers)})
        yield "data: [DONE]\n\n"

    def _echoed(self, index: int) -> str:
        return (self.prompts[index] or "") if self.request.echo else ""

    def _usage(self, answers: list[Answer | str]) -> dict[str, int] | None:
        return usage(self.prompt_tokens, answers)


def _logprobs(answer: Answer | str | None) -> dict[str, Any] | None:
    """The legacy completions shape: tokens, their logprobs, a dict of the best
    alternatives per token, and each token's character offset in the text."""
    scored = getattr(answer, "logprobs", None)
    if scored is None:
        return None
    offsets, offset = [], 0
    for item in scored:
        offsets.append(offset)
        offset += len(item.token)
    return {"tokens": [item.token for item in scored],
            "token_logprobs": [item.logprob for item in scored],
            "top_logprobs": [dict(item.top) for item in scored],
            "text_offset": offsets}
