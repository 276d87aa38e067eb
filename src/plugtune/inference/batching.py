"""Batching of concurrent ``generate`` requests (what ``plugtune serve`` answers with):
a backend answers a batch in about the time of one request, so requests that arrive
together are answered together instead of queued. No web framework here."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from plugtune.core.config import GenerationConfig
from plugtune.core.interfaces import Backend
from plugtune.core.records import Conversation

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Job:
    conversation: Conversation
    params: GenerationConfig
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    answer: str | None = None
    error: BaseException | None = None


class Batcher:
    """Answers concurrent ``generate`` requests in batches.

    ``submit`` blocks its (worker) thread until the answer is ready. One daemon thread
    takes the waiting jobs: after the first arrives it waits while more keep coming (each
    arrival gives the others ``window_s`` more, for at most ``max_wait_s`` in all: a burst
    of clients arrives over tens of milliseconds, and a fixed window would cut it into
    uneven batches), or until ``max_batch`` are waiting, then answers every waiting job
    with the first one's parameters (up to ``max_batch``) with one ``backend.generate``
    call under ``lock``. Jobs with other parameters wait for a later batch. When a batch
    fails, its jobs are retried one by one, so that one bad request fails alone.
    """

    def __init__(self, backend: Backend, lock: threading.Lock, window_s: float = 0.01,
                 max_batch: int | None = None, max_wait_s: float = 0.05) -> None:
        self.backend, self.lock, self.window_s = backend, lock, window_s
        self.max_wait_s = max(max_wait_s, window_s)
        self._last_arrival = 0.0
        self.max_batch = max(1, max_batch or int(getattr(backend, "batch_size", 1) or 1))
        self._pending: list[_Job] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, conversation: Conversation, params: GenerationConfig) -> str:
        """The answer to ``conversation``, generated in a batch with others."""
        job = _Job(conversation, params)
        with self._ready:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="plugtune-batcher",
                                                daemon=True)
                self._thread.start()
            self._pending.append(job)
            self._last_arrival = time.monotonic()
            self._ready.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.answer is not None
        return job.answer

    def _loop(self) -> None:
        while True:
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
            self._run(batch, params)

    def _run(self, batch: list[_Job], params: GenerationConfig) -> None:
        log.debug("batch of %d request(s)", len(batch))  # `plugtune -vv serve` shows it
        try:
            with self.lock:
                answers = self.backend.generate([job.conversation for job in batch], params)
            for job, answer in zip(batch, answers, strict=True):
                job.answer = answer
        except BaseException as error:  # handed to the waiting requests
            if len(batch) > 1:
                log.info("a batch of %d failed (%s); answering its requests one by one",
                         len(batch), error)
                for job in batch:
                    self._run([job], params)
                return
            batch[0].error = error
        for job in batch:
            job.done.set()
