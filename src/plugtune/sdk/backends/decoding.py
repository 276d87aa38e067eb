"""From generated token ids to answer text: stop strings, incremental decoding, streaming.

Shared by ``generate`` and ``stream`` so a streamed answer joins to the generated one.
Nothing here imports torch at module level.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from plugtune.sdk.templates.replies import held_back


class Answer(str):
    """Generated text that knows how many tokens were generated for it.

    Re-tokenizing the text does not give that number back: ids a random or small model
    emits may decode to text (partial UTF-8 as U+FFFD, say) that encodes to other ids.
    Token counts (a server's usage, a throughput benchmark) read ``tokens`` instead; to
    everything else an answer is the plain string.

    ``finish_reason``: ``"stop"`` (a stop token or string ended it), ``"length"`` (the
    tokens asked for ran out), ``"abort"`` (its request was stopped: client gone, deadline
    passed), None for a piece of a streamed answer.
    """

    tokens: int
    finish_reason: str | None
    logprobs: list[Any] | None = None  # TokenLogprob per token, when the request asked

    def __new__(cls, text: str, tokens: int, finish_reason: str | None = None) -> Answer:
        answer = super().__new__(cls, text)
        answer.tokens, answer.finish_reason = tokens, finish_reason
        return answer


def joined(pieces: Sequence[str]) -> str:
    """Streamed pieces as one answer: an :class:`Answer` when every piece is one (each
    counting the tokens generated since the one before), else the plain text."""
    text = "".join(pieces)
    if all(isinstance(piece, Answer) for piece in pieces):
        return Answer(text, sum(piece.tokens for piece in pieces))  # type: ignore[attr-defined]
    return text


# How every backend turns ids into text: special tokens (eos, end-of-turn) are not text,
# and no tokenization-space clean-up, which would make pieces differ from the whole.
DECODE_KWARGS = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}


def answer_from_ids(tokenizer: Any, ids: Sequence[int], stop_ids: Iterable[int],
                    stops: Iterable[str], *, unfinished: str = "length") -> Answer:
    """The answer in generated ``ids``: decoded up to the first stop token, cut at the
    first stop string; ``tokens`` counts the ids before the stop token. Its finish reason
    is ``"stop"`` when a stop ended it, else ``unfinished`` (``"length"``, or ``"abort"``
    for ids of a request stopped early)."""
    kept = until_stop_token(ids, stop_ids)
    text = tokenizer.decode(kept, **DECODE_KWARGS)
    answer = cut_at_stop(text, stops)
    stopped = len(kept) < len(ids) or len(answer) < len(text)
    return Answer(answer, len(kept), "stop" if stopped else unfinished)


def cut_at_stop(text: str, stops: Iterable[str]) -> str:
    """The text before the first occurrence of any stop string.

    >>> cut_at_stop("Paris.\\nUser: and Rome?", ["\\nUser:", "<|im_end|>"])
    'Paris.'
    """
    positions = [index for stop in stops if stop and (index := text.find(stop)) >= 0]
    return text[: min(positions)] if positions else text


def until_stop_token(ids: Sequence[int], stop_ids: Iterable[int]) -> list[int]:
    """The ids before the first stop token (eos, end of turn; padding follows it)."""
    stops = set(stop_ids)
    for index, token in enumerate(ids):
        if token in stops:
            return list(ids[:index])
    return list(ids)


class PieceStream:
    """One answer's token ids, one at a time, as the text pieces a client is streamed:
    decoded incrementally, ended by a stop token or cut at a stop string (a tail that
    could grow into one is held back), each piece counting the tokens since the last."""

    def __init__(self, tokenizer: Any, stop_ids: Iterable[int], stops: Iterable[str]) -> None:
        self.decoder, self.cutter = IncrementalDecoder(tokenizer), StopCutter(stops)
        self.stop_ids = set(stop_ids)
        self.done = False
        self._count = 0

    def add(self, token: int) -> Answer | None:
        """The piece ``token`` completes, if any (the tail, at a stop token)."""
        if self.done:
            return None
        if token in self.stop_ids:
            return self.finish()
        self._count += 1
        piece = self.cutter.feed(self.decoder.add(token))
        self.done = self.cutter.stopped
        return self._piece(piece)

    def finish(self) -> Answer | None:
        """What was held back, once no more tokens come."""
        if self.done:
            return None
        self.done = True
        return self._piece(self.cutter.feed(self.decoder.flush()) + self.cutter.flush())

    def _piece(self, text: str) -> Answer | None:
        if not text:
            return None
        piece, self._count = Answer(text, self._count), 0
        return piece


class StopCutter:
    """Cuts a stream of text pieces at the first stop string.

    A tail that could still grow into a stop string is held back until it cannot; the
    pieces returned by ``feed`` and ``flush`` join to ``cut_at_stop(whole text)``.
    """

    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.stopped = False
        self._pending = ""

    def feed(self, piece: str) -> str:
        """The text that is safe to show now (``""`` while a stop may be forming)."""
        if self.stopped:
            return ""
        self._pending += piece
        cut = cut_at_stop(self._pending, self.stops)
        if len(cut) < len(self._pending):
            self.stopped, self._pending = True, ""
            return cut
        held = held_back(self._pending, *self.stops)
        ready = self._pending[: len(self._pending) - held]
        self._pending = self._pending[len(ready) :]
        return ready

    def flush(self) -> str:
        """What was held back, once the text is complete."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped else rest


class IncrementalDecoder:
    """Decodes a growing list of token ids piece by piece.

    Each new token is decoded together with the previous window of tokens and only the
    new characters are returned, so byte-level pieces of one character and
    SentencePiece's leading spaces come out as the whole decode has them.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # start of the window decoded for context
        self._read = 0  # end of what was returned already

    def add(self, token: int) -> str:
        """The text the token completes (``""`` while a character is still incomplete)."""
        self.ids.append(token)
        seen = self._decode(self.ids[self._prefix : self._read])
        text = self._decode(self.ids[self._prefix :])
        if len(text) > len(seen) and not text.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self.ids)
            return text[len(seen) :]
        return ""

    def flush(self) -> str:
        """Whatever is left (an incomplete character decodes as ``\\ufffd``)."""
        seen = self._decode(self.ids[self._prefix : self._read])
        text = self._decode(self.ids[self._prefix :])
        self._prefix = self._read = len(self.ids)
        return text[len(seen) :]

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, **DECODE_KWARGS) if ids else ""


_END = object()


class Handoff:
    """What a function running in another thread produces, as an iterator here: ``run``
    calls it (it calls ``put`` for each item) and passes on an exception it raises."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def run(self, produce: Callable[[], Any]) -> None:
        try:
            produce()
        except BaseException as error:
            self._queue.put(error)
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[Any]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item


class BatchStreamer:
    """A transformers streamer for a batch: each step's new token of row ``i`` goes to
    ``streams[i]`` (None: that row is not streamed), and its pieces to ``sinks[i]``."""

    def __init__(self, streams: Sequence[PieceStream | None],
                 sinks: Sequence[Callable[[Answer], None] | None]) -> None:
        self.streams, self.sinks = streams, sinks
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() puts the prompt first
            self._prompt_seen = True
            return
        for stream, sink, token in zip(self.streams, self.sinks, value.reshape(-1).tolist(),
                                       strict=True):
            if stream is not None and sink is not None and (piece := stream.add(token)):
                sink(piece)

    def end(self) -> None:
        for stream, sink in zip(self.streams, self.sinks, strict=True):
            if stream is not None and sink is not None and (piece := stream.finish()):
                sink(piece)
