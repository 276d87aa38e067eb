"""One generation request as a server hands it to a backend, and the limits every
backend enforces the same way.

A server answers many clients with one model: it batches their requests, streams some,
and must stop any one of them alone (its client left, its deadline passed, the server is
shutting down) without stopping the others. :class:`GenerationRequest` carries what a
backend needs for that; a backend that takes these (:class:`AnswersRequests`) batches
streamed and whole answers together and ends each row by itself. A backend that does not
is adapted by the server (whole answers batched, streams one at a time).
:class:`RequestsBackend` is what such backends share, written once: ``generate`` and
``stream`` on top of ``answer_requests``, a request's prompt, its stop strings.

The limits (:func:`check_context`): a prompt plus the tokens asked for must fit the
model's context. Without that check a client asking for a trillion tokens holds the
model for hours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plugtune.core.errors import PlugtuneError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation
from plugtune.sdk.turns import check_messages

if TYPE_CHECKING:
    from plugtune.core.config import GenerationConfig
    from plugtune.sdk.backends.decoding import Answer

# Why a row ended before its stop: the tokens ran out, or it was stopped (cancelled, past
# its deadline). OpenAI's finish reasons are "stop" and "length"; "abort" is vLLM's.
FINISHED, LENGTH, ABORTED = "stop", "length", "abort"


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A generated token's text, its log-probability under the model (before sampling
    settings), and the ``top`` most likely tokens at that step with theirs."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(eq=False)
class GenerationRequest:
    """A conversation to answer (or, with ``prompt``, raw text to continue: a text
    completion); ``on_piece`` receives the answer's text pieces as they are generated
    (None: a whole answer only); ``logprobs``: give the answer's tokens' :class:`TokenLogprob`
    with this many alternatives each (None: none); ``deadline`` is a
    ``time.monotonic()`` time after which generation stops; ``cancel()`` stops it at the
    next step."""

    conversation: Conversation = field(default_factory=lambda: Conversation(()))
    on_piece: Callable[[Answer], None] | None = None
    prompt: str | None = None
    logprobs: int | None = None
    deadline: float | None = None
    template: ChatTemplate | None = None  # renders this request instead of the backend's
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""

    def cancel(self, reason: str) -> None:
        """Stop generating for this request (``reason``: why, for its error message)."""
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()

    @property
    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def should_stop(self) -> bool:
        """Whether the backend should stop generating for this request now."""
        return self.cancelled.is_set() or self.timed_out


@runtime_checkable
class AnswersRequests(Protocol):
    """A backend that answers :class:`GenerationRequest` objects: one answer per request,
    in order, streaming to each ``on_piece``, with ``logprobs`` when asked (the answer's
    ``logprobs`` attribute), and ending each row when its request ``should_stop()``
    (that answer then has ``finish_reason == "abort"``)."""

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]: ...


@runtime_checkable
class KnowsContext(Protocol):
    """A backend that can say how long a request's prompt is and how many tokens its
    model holds, so a server refuses an impossible request before queueing it (None:
    unknown)."""

    context_length: int | None

    def prompt_tokens(self, request: GenerationRequest) -> int: ...


class ContextLengthError(PlugtuneError):
    """A prompt, or a prompt plus the tokens asked for, longer than the model's context.
    ``field``: what to change (``max_tokens`` or ``messages``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_context(prompt_tokens: int, max_new_tokens: int, context_length: int | None,
                  origin: str = "") -> None:
    """Raise :class:`ContextLengthError` (with the numbers) unless the prompt and
    ``max_new_tokens`` new tokens fit ``context_length`` (None: no known limit)."""
    if context_length is None:
        return
    where = f"{origin}: " if origin else ""
    if prompt_tokens >= context_length:
        raise ContextLengthError(
            f"{where}the prompt is {prompt_tokens} tokens; the model's context length is "
            f"{context_length}, which leaves no room for an answer", field="messages")
    if prompt_tokens + max_new_tokens > context_length:
        raise ContextLengthError(
            f"{where}max_new_tokens {max_new_tokens} + {prompt_tokens} prompt tokens = "
            f"{prompt_tokens + max_new_tokens} exceeds the model's context length "
            f"{context_length}; ask for at most {context_length - prompt_tokens}",
            field="max_tokens")


def streamed(backend: AnswersRequests, conversation: Conversation,
             params: GenerationConfig | None = None) -> Iterator[Answer]:
    """``backend.stream`` for a backend that answers requests: one request generated in
    a thread, its pieces handed over as they come; closing the iterator (a reader that
    stops early) stops the generation at the next step."""
    from plugtune.sdk.backends.decoding import Handoff

    pieces = Handoff()
    request = GenerationRequest(conversation, on_piece=pieces.put)
    thread = threading.Thread(target=pieces.run,
                              args=(lambda: backend.answer_requests([request], params),),
                              name="plugtune-stream", daemon=True)
    thread.start()
    try:
        yield from pieces
    finally:
        request.cancel("the stream was closed")
        thread.join()


class RequestsBackend:
    """The part every backend that answers requests shares, so each writes only its own
    ``answer_requests`` (how its engine runs a batch): ``generate`` and ``stream`` are
    ``answer_requests`` on many requests or one, a request's prompt is its raw text or its
    conversation rendered by its own template (else the backend's), and stops are the
    template's plus the request's. Subclasses set ``tokenizer`` and ``template`` when
    they load."""

    tokenizer: Any = None
    template: Any = None

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]:
        raise NotImplementedError  # the backend's own part

    def generate(self, conversations: Sequence[Conversation],
                 params: GenerationConfig | None = None) -> list[str]:
        """One answer per conversation, in order."""
        requests = [GenerationRequest(conversation) for conversation in conversations]
        return list(self.answer_requests(requests, params))

    def stream(self, conversation: Conversation,
               params: GenerationConfig | None = None) -> Iterator[str]:
        """The answer to ``conversation`` in pieces, as the tokens are generated."""
        return streamed(self, conversation, params)

    def render_prompt(self, conversation: Conversation,
                      template: ChatTemplate | None = None) -> str:
        """``conversation`` (ending with a turn the model answers) rendered for
        generation by ``template``, else the backend's."""
        check_messages(conversation.messages, origin=conversation.origin or "conversation",
                       final="prompt")
        return (template or self.template).render(conversation, add_generation_prompt=True)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The token ids of a text completion's raw prompt as given, else of the
        request's conversation rendered (:meth:`render_prompt`)."""
        text = (request.prompt if request.prompt is not None
                else self.render_prompt(request.conversation, request.template))
        return self.tokenizer.encode(text, add_special_tokens=False)

    def stop_strings(self, params: GenerationConfig) -> list[str]:
        """Where an answer ends besides its stop tokens: the template's stop strings and
        the request's ``stop``."""
        return [*self.template.stop_strings, *params.stop]


def token_logprobs(tokenizer: Any, step_logits: Sequence[Any], row: int, ids: Sequence[int],
                   top: int) -> list[TokenLogprob]:
    """Each of ``ids`` (row ``row`` of a batch) with its log-probability under the raw
    ``step_logits`` of its step (transformers' ``output_logits``), and the ``top`` most
    likely tokens there."""
    import torch

    scored = []
    for step, token in enumerate(ids):
        logprobs = torch.log_softmax(step_logits[step][row].float(), dim=-1)
        best = torch.topk(logprobs, top) if top else None
        alternatives = () if best is None else tuple(
            (tokenizer.decode([int(index)]), float(value))
            for value, index in zip(best.values, best.indices, strict=True))
        scored.append(TokenLogprob(tokenizer.decode([token]), float(logprobs[token]),
                                   alternatives))
    return scored
