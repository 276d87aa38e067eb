"""The server's scheduler: every request, streamed or whole, waits in one bounded queue
and is answered in batches by one thread, so no client holds the model for the others.

A backend answers a batch in about the time of one request, so requests that arrive
together are answered together. Each request can be stopped alone (its client left, its
deadline passed) and ends at the next generation step; the queue is bounded, so an
overloaded server says so (:class:`QueueFull`, a 429) instead of letting waits grow
without end; ``close`` stops taking requests and stops the running ones after a grace
period (SIGTERM). No web framework here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.interfaces import Backend
from plugtune.sdk.backends.decoding import Answer, joined
from plugtune.sdk.backends.requests import ABORTED, AnswersRequests, GenerationRequest

log = logging.getLogger(__name__)


class QueueFull(PlugtuneError):
    """More requests wait than the server takes; ``retry_after``: seconds to wait."""

    def __init__(self, waiting: int, retry_after: float) -> None:
        super().__init__(f"the server is busy: {waiting} requests are waiting "
                         f"(--max-queue); retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class ServerClosing(PlugtuneError):
    """The server is shutting down and takes no new requests."""


@dataclasses.dataclass(eq=False)
class Job:
    """A request in the scheduler: its answer (or error) once ``done`` is set;
    ``on_done`` is called then, in the scheduler's thread."""

    request: GenerationRequest
    params: GenerationConfig
    on_done: Callable[[Job], None] | None = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    answer: Answer | str | None = None
    error: BaseException | None = None

    def finish(self, answer: Answer | str | None = None,
               error: BaseException | None = None) -> None:
        self.answer, self.error = answer, error
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done(self)
            except RuntimeError as problem:  # its event loop closed: nobody is waiting
                log.debug("a finished request's waiter is gone: %s", problem)


class Scheduler:
    """Answers submitted requests in batches, ``lanes`` batches at a time (or, for a
    backend that ``answers_concurrently``, each batch as soon as it is formed).

    One daemon thread takes the waiting jobs: after the first arrives it waits while more
    keep coming (each arrival gives the others ``window_s`` more, for at most
    ``max_wait_s`` in all: a burst of clients arrives over tens of milliseconds, and a
    fixed window would cut it into uneven batches), or until ``max_batch`` are waiting,
    then answers the waiting jobs that share the first one's parameters (up to
    ``max_batch``) in one ``answer_requests`` call. Jobs stopped while they waited are
    answered without generating. When a batch fails, its jobs are retried one by one, so
    one bad request fails alone. ``max_queue``: how many may wait (None: no limit).

    With one lane, a request that arrives while a batch runs waits for that batch to
    end, however long its longest answer. More lanes answer that many batches at once
    (each in a thread of its own, sharing the model and the cores), so a long answer
    holds one lane while the others go on. A backend whose engine batches continuously
    (vLLM: requests join and leave its batch at every step) says so with
    ``answers_concurrently = True`` and gets every batch at once.
    """

    def __init__(self, backend: Backend, *, window_s: float = 0.01,
                 max_batch: int | None = None, max_wait_s: float = 0.05,
                 max_queue: int | None = None, lanes: int = 1) -> None:
        self.engine: AnswersRequests = (backend if isinstance(backend, AnswersRequests)
                                        else RequestsAdapter(backend))
        self.window_s, self.max_wait_s = window_s, max(max_wait_s, window_s)
        self.max_batch = max(1, max_batch or int(getattr(backend, "batch_size", 1) or 1))
        self.max_queue = max_queue
        concurrent = bool(getattr(backend, "answers_concurrently", False))
        self.lanes = None if concurrent else max(1, lanes)  # None: no limit
        self._free_lanes = None if self.lanes is None else threading.Semaphore(self.lanes)
        self._pending: list[Job] = []
        self._running: list[Job] = []
        self._last_arrival = 0.0
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    @property
    def closing(self) -> bool:
        return self._closing

    def submit(self, request: GenerationRequest, params: GenerationConfig,
               on_done: Callable[[Job], None] | None = None) -> Job:
        """Queue ``request``; raises :class:`QueueFull` or :class:`ServerClosing`."""
        job = Job(request, params, on_done)
        with self._ready:
            if self._closing:
                raise ServerClosing("the server is shutting down")
            if self.max_queue is not None and len(self._pending) >= self.max_queue:
                raise QueueFull(len(self._pending), retry_after=1.0)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="plugtune-scheduler",
                                                daemon=True)
                self._thread.start()
            self._pending.append(job)
            self._last_arrival = time.monotonic()
            self._ready.notify_all()
        return job

    def answer(self, request: GenerationRequest, params: GenerationConfig) -> Answer | str:
        """Submit ``request`` and wait for its answer (in the calling thread)."""
        job = self.submit(request, params)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.answer is not None
        return job.answer

    def close(self, grace_s: float = 0.0, reason: str = "the server is shutting down") -> None:
        """Take no more requests; after ``grace_s`` seconds, stop every request still
        waiting or running (they end at the next step with finish reason ``abort``)."""
        with self._ready:
            self._closing = True

        def stop_all() -> None:
            with self._ready:
                jobs = [*self._pending, *self._running]
            for job in jobs:
                job.request.cancel(reason)
            with self._ready:
                self._ready.notify_all()

        if grace_s <= 0:
            stop_all()
        else:
            timer = threading.Timer(grace_s, stop_all)
            timer.daemon = True
            timer.start()

    def _loop(self) -> None:
        while True:
            if self._free_lanes is not None:
                self._free_lanes.acquire()  # the next batch forms once a lane is free
            batch, params = self._next_batch()
            live = [job for job in batch if not job.request.should_stop()]
            stopped = [job for job in batch if job not in live]
            for job in stopped:
                job.finish(Answer("", 0, ABORTED))
            self._forget(stopped)
            if self.lanes == 1 or not live:
                self._run_batch(live, params)
            else:
                threading.Thread(target=self._run_batch, args=(live, params),
                                 name="plugtune-batch", daemon=True).start()

    def _run_batch(self, batch: list[Job], params: GenerationConfig) -> None:
        try:
            if batch:
                self._run(batch, params)
        finally:
            self._forget(batch)
            if self._free_lanes is not None:
                self._free_lanes.release()

    def _forget(self, jobs: list[Job]) -> None:
        """``jobs`` are answered: no longer running."""
        with self._ready:
            self._running = [job for job in self._running if job not in jobs]

    def _next_batch(self) -> tuple[list[Job], GenerationConfig]:
        """Wait for jobs, let a burst gather, and take the first job's batch."""
        with self._ready:
            while not self._pending:
                self._ready.wait()
            latest = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch:
                deadline = min(self._last_arrival + self.window_s, latest)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            params = self._pending[0].params
            batch = [job for job in self._pending if job.params == params][: self.max_batch]
            self._pending = [job for job in self._pending if job not in batch]
            self._running += batch
        return batch, params

    def _run(self, batch: list[Job], params: GenerationConfig) -> None:
        log.debug("batch of %d request(s)", len(batch))  # `plugtune -vv serve` shows it
        try:
            answers = self.engine.answer_requests([job.request for job in batch], params)
        except BaseException as error:  # handed to the waiting requests
            if len(batch) > 1:
                log.info("a batch of %d failed (%s); answering its requests one by one",
                         len(batch), error)
                for job in batch:
                    self._run([job], params)
                return
            batch[0].finish(error=error)
            return
        for job, answer in zip(batch, answers, strict=True):
            # With the batch line, what an operator (or a test) reads to see that a
            # request whose client left stopped at once: few tokens, finish reason abort.
            log.debug("answered %d token(s) (%s)", getattr(answer, "tokens", 0),
                      getattr(answer, "finish_reason", None))
            job.finish(answer)


class RequestsAdapter:
    """``answer_requests`` for a backend that only has ``generate`` and ``stream``: the
    whole answers in one ``generate`` call, the streamed ones one after another, each
    stream closed (which stops it) once its request should stop."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer | str]:
        answers: list[Answer | str] = [""] * len(requests)
        whole = [index for index, request in enumerate(requests) if request.on_piece is None]
        if whole:
            generated = self.backend.generate([requests[i].conversation for i in whole], params)
            for index, answer in zip(whole, generated, strict=True):
                answers[index] = answer
        for index, request in enumerate(requests):
            if request.on_piece is not None:
                answers[index] = self._streamed(request, params)
        return answers

    def _streamed(self, request: GenerationRequest,
                  params: GenerationConfig | None) -> Answer | str:
        assert request.on_piece is not None
        pieces: list[str] = []
        stream = self.backend.stream(request.conversation, params)
        with contextlib.closing(stream) if hasattr(stream, "close") else contextlib.nullcontext():
            for piece in stream:
                request.on_piece(piece)  # type: ignore[arg-type]
                pieces.append(piece)
                if request.should_stop():
                    text = joined(pieces)
                    return Answer(text, getattr(text, "tokens", len(pieces)), ABORTED)
        return joined(pieces)
