"""What every generating endpoint of the server does with a request: fit it to the
model's context (a 400 with the numbers when it cannot fit), queue it (a 429 when the
queue is full), wait for it while watching the client (a client that leaves stops its
generation at the next step), and turn a stopped answer into its status (408 past the
deadline, 503 while shutting down). No endpoint waits on the model in the event loop,
so one request never blocks the others."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from plugtune.core.config import GenerationConfig
from plugtune.core.records import Conversation
from plugtune.inference.http_bodies import RequestError
from plugtune.inference.scheduler import Job, QueueFull, Scheduler, ServerClosing
from plugtune.sdk.backends.decoding import Answer
from plugtune.sdk.backends.requests import (
    ABORTED,
    ContextLengthError,
    GenerationRequest,
    KnowsContext,
    check_context,
)

# How often a waiting request checks whether its client is still there.
DISCONNECT_POLL_S = 0.1
# HTTP 499 (nginx's "client closed request"): logged, never sent to anyone.
CLIENT_GONE = 499


class Responds(Protocol):
    """An endpoint's response to a request's choices: whole, or as server-sent events."""

    def whole(self, answers: list[Answer | str]) -> dict[str, Any]: ...

    def chunks(self, events: AsyncIterator[tuple[int, Answer | str, bool]]
               ) -> AsyncIterator[str]: ...


class Answering:
    """Fits, queues and waits for requests on one backend's :class:`Scheduler`;
    ``request_timeout_s``: each request's deadline (None: none)."""

    def __init__(self, backend: Any, scheduler: Scheduler,
                 request_timeout_s: float | None = None) -> None:
        self.backend, self.scheduler = backend, scheduler
        self.request_timeout_s = request_timeout_s
        self.knows_context = isinstance(backend, KnowsContext)

    async def prompt_tokens(self, request: GenerationRequest) -> int | None:
        """The request's prompt length in tokens, when the backend can tell (None
        otherwise); counted in a worker thread (the template renders, the tokenizer runs),
        so a problem with the messages is a 400 before anything is queued."""
        if not self.knows_context:
            return None
        try:
            return int(await run_in_threadpool(self.backend.prompt_tokens, request))
        except (ValueError, TypeError) as error:
            raise RequestError(f"messages: {error}", param="messages") from None

    def fit(self, params: GenerationConfig, prompt_tokens: int | None,
            asked: int | None) -> GenerationConfig:
        """``params`` within the model's context: a request that set no ``max_tokens``
        gets what is left of the context (at most the server's default); one that asked
        for more than is left, or whose prompt fills the context, is a 400."""
        context = getattr(self.backend, "context_length", None) if self.knows_context else None
        if context is None or prompt_tokens is None:
            return params
        room = context - prompt_tokens
        if asked is None and 0 < room < params.max_new_tokens:
            params = params.model_copy(update={"max_new_tokens": room})
        try:
            check_context(prompt_tokens, params.max_new_tokens, context)
        except ContextLengthError as error:
            raise RequestError(str(error), param=error.field,
                               code="context_length_exceeded") from None
        return params

    def request(self, conversation: Conversation | None = None,
                **fields: Any) -> GenerationRequest:
        """A generation request with this server's deadline."""
        deadline = (None if self.request_timeout_s is None
                    else time.monotonic() + self.request_timeout_s)
        return GenerationRequest(conversation or Conversation(()), deadline=deadline, **fields)

    def submit(self, request: GenerationRequest, params: GenerationConfig,
               on_done: Callable[[Job], None] | None = None) -> Job:
        """Queue ``request``: 429 (with Retry-After) when the queue is full, 503 when
        the server is shutting down."""
        try:
            return self.scheduler.submit(request, params, on_done)
        except QueueFull as error:
            raise RequestError(str(error), status=429, code="queue_full", headers={
                "Retry-After": f"{error.retry_after:.0f}"}) from None
        except ServerClosing as error:
            raise RequestError(str(error), status=503, code="shutting_down") from None

    async def answers(self, http_request: Request, requests: Sequence[GenerationRequest],
                      params: GenerationConfig) -> list[Answer | str] | None:
        """The answers to ``requests`` (queued together), or None when the client left
        first (then every one of them is stopped)."""
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        jobs: list[Job] = []

        def done(_job: Job | None) -> None:
            if len(jobs) == len(requests) and all(job.done.is_set() for job in jobs):
                loop.call_soon_threadsafe(finished.set)

        jobs += self.submit_all(requests, params, lambda _index: done)
        done(None)  # every job may have finished while the others were queued
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), DISCONNECT_POLL_S)
            if not finished.is_set() and await http_request.is_disconnected():
                for job in jobs:
                    job.request.cancel("the client disconnected")
                return None
        return [answer_of(job) for job in jobs]

    def submit_all(self, requests: Sequence[GenerationRequest], params: GenerationConfig,
                   on_done: Callable[[int], Callable[[Job], None]]) -> list[Job]:
        """Queue every choice of one request (``on_done(index)``: its callback), or none:
        when one is refused (429, 503), those already queued are stopped."""
        jobs: list[Job] = []
        try:
            for index, request in enumerate(requests):
                jobs.append(self.submit(request, params, on_done(index)))
        except RequestError:
            for job in jobs:
                job.request.cancel("another choice of the request was refused")
            raise
        return jobs

    async def respond(self, http_request: Request, requests: Sequence[GenerationRequest],
                      params: GenerationConfig, response: Responds, *, stream: bool) -> Any:
        """``response`` to ``requests``: streamed as they generate, or whole once done
        (nothing, when the client left first)."""
        if stream:
            events = await self.streamed(requests, params)
            return StreamingResponse(response.chunks(events), media_type="text/event-stream")
        answers = await self.answers(http_request, requests, params)
        if answers is None:
            return Response(status_code=CLIENT_GONE)
        return response.whole(answers)

    async def streamed(self, requests: Sequence[GenerationRequest], params: GenerationConfig
                       ) -> AsyncIterator[tuple[int, Answer | str, bool]]:
        """Queue ``requests`` together and yield ``(index, piece, False)`` for each
        streamed piece as it comes and ``(index, answer, True)`` when request ``index``
        has finished (raising its error, if it failed), until all have. Leaving early
        (the client disconnected) stops every one of them. The requests are queued at
        the call, so a full queue is a 429 before any response is started."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

        def sink(index: int) -> Callable[[Any], None]:
            return lambda item: loop.call_soon_threadsafe(events.put_nowait, (index, item))

        for index, request in enumerate(requests):
            request.on_piece = sink(index)
        return self._events(events, self.submit_all(requests, params, sink))

    async def _events(self, events: asyncio.Queue[tuple[int, Any]], jobs: list[Job]
                      ) -> AsyncIterator[tuple[int, Answer | str, bool]]:
        left = len(jobs)
        try:
            while left:
                index, item = await events.get()
                if isinstance(item, Job):
                    left -= 1
                    yield index, answer_of(item), True
                else:
                    yield index, item, False
        finally:
            for job in jobs:
                job.request.cancel("the client disconnected")


def answer_of(job: Job) -> Answer | str:
    """A finished job's answer, or the error that stopped it (as its status)."""
    if job.error is not None:
        raise job.error
    assert job.answer is not None
    if getattr(job.answer, "finish_reason", None) == ABORTED:
        raise stopped_error(job.request)
    return job.answer


def stopped_error(request: GenerationRequest) -> RequestError:
    """Why a request was stopped, as a status: 408 past its deadline, 503 otherwise (the
    server is shutting down)."""
    if request.timed_out:
        return RequestError("the request ran past the server's deadline (--request-timeout)",
                            status=408, code="timeout")
    return RequestError(request.cancel_reason or "the request was stopped", status=503,
                        code="stopped")


def server_event(payload: dict[str, Any]) -> str:
    """One server-sent event carrying ``payload`` as JSON."""
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
