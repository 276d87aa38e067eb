"""The ``llamacpp`` backend: a GGUF file run by llama.cpp (through llama-cpp-python).

What a run exported with ``plugtune export --format gguf`` is served with, on a laptop
CPU as on a GPU. Prompts are rendered by plugtune's template (the one the GGUF header
names as ``plugtune.template``, else matched to the GGUF's own chat template, as
``template: auto`` does for a tokenizer) and tokenized by llama.cpp's own vocabulary, so
what runs is what ``llama-cli`` would run; answers are decoded, streamed and cut at
stops by the same helpers as the other backends. llama.cpp holds one sequence per
context, so requests are answered one after the other (a lock keeps threads apart), each
checked between tokens for its stop (a client gone, a deadline passed). A GGUF LoRA
(``plugtune export --format gguf --lora-gguf``) is applied at load time.

llama-cpp-python is optional (``pip install llama-cpp-python``, ``make llamacpp``); it
is imported only by ``load``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

INSTALL_HINT = ("the llamacpp backend needs llama-cpp-python: `pip install "
                "llama-cpp-python==0.3.36` (a source build) or `make llamacpp`")


class LlamaCppOptions(BaseModel):
    """llama.cpp's settings (its names) and where the GGUF files are."""

    model_config = ConfigDict(extra="forbid")

    model_file: str | None = Field(
        None, description="The GGUF file; None: model.path (a .gguf file, or a folder "
                          "holding one, like plugtune export's).")
    lora_file: str | None = Field(
        None, description="A GGUF LoRA; None: model.adapter when it is a .gguf file.")
    n_ctx: int = Field(0, ge=0, description="Context length; 0: the model's own.")
    n_threads: int | None = Field(None, gt=0, description="None: llama.cpp's choice.")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU build (-1: all).")
    batch_size: int = Field(1, gt=0, description="Conversations per generate call.")


class GGUFTokenizer:
    """llama.cpp's vocabulary with the few tokenizer methods plugtune's helpers call."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        metadata = llm.metadata
        self.chat_template = metadata.get("tokenizer.chat_template")
        self.eos_token_id = llm.token_eos()
        self.eos_token = self._text(self.eos_token_id)
        bos = llm.token_bos()
        self.bos_token = self._text(bos) if bos >= 0 else None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens,
                                 special=True)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True,
               clean_up_tokenization_spaces: bool = False) -> str:
        text = self.llm.detokenize(list(ids), special=not skip_special_tokens)
        return text.decode("utf-8", errors="replace")

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")


class LlamaCppBackend(RequestsBackend):
    """Generate with llama.cpp from a GGUF file: streamed, stopped per request."""

    Options = LlamaCppOptions

    def __init__(self, **options: Any) -> None:
        self.options = LlamaCppOptions(**options)
        self.batch_size = self.options.batch_size
        self.generation: GenerationConfig | None = None
        self.tokenizer: GGUFTokenizer | None = None
        self.template: Any = None
        self.stop_ids: list[int] = []
        self.adapter: str | None = None
        self._llm: Any = None
        self._lock = threading.Lock()

    def load(self, config: RunConfig, session: Session) -> None:
        """Load the GGUF (and its LoRA), and the template it was trained with."""
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ConfigError(f"{INSTALL_HINT} ({error})") from None
        from plugtune.data.templates import resolve_template, stop_token_ids

        model_file = _gguf_file(self.options.model_file or config.model.path, "model")
        lora = self.options.lora_file or config.model.adapter
        lora_file = _gguf_file(lora, "LoRA") if lora else None
        options = self.options
        self._llm = Llama(str(model_file), lora_path=str(lora_file) if lora_file else None,
                          n_ctx=options.n_ctx, n_threads=options.n_threads,
                          n_gpu_layers=options.n_gpu_layers, verbose=False)
        self.tokenizer = GGUFTokenizer(self._llm)
        template = config.template
        named = self._llm.metadata.get("plugtune.template")
        if named and (template is None or getattr(template, "name", template) == "auto"):
            template = named  # the template the exported run trained with
        self.template = resolve_template(session, template, self.tokenizer)
        self.stop_ids = stop_token_ids(self.template, self.tokenizer)
        self.adapter = CONFIG_ADAPTER if lora_file else None
        self.generation = config.generation

    def use_adapter(self, name: str | None) -> None:
        """llama.cpp applies its LoRA for the whole context: only that one is served."""
        if name != self.adapter:
            have = f"the LoRA {self.adapter!r}" if self.adapter else "no LoRA"
            raise ConfigError(f"no adapter {name!r}: the llamacpp backend was loaded with "
                              f"{have}; load another backend for another adapter")

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]:
        """One answer per request, in order, each streamed to its ``on_piece`` and ended
        when it should stop (finish reason ``abort``)."""
        params = params or self.generation
        prompts = [self.prompt_ids(request) for request in requests]
        for request, prompt in zip(requests, prompts, strict=True):
            check_context(len(prompt), params.max_new_tokens, self.context_length,
                          request.conversation.origin)
        with self._lock:
            return [self._answer(request, prompt, params)
                    for request, prompt in zip(requests, prompts, strict=True)]

    @property
    def context_length(self) -> int:
        return int(self._loaded().n_ctx())

    def prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self.prompt_ids(request))

    def _answer(self, request: GenerationRequest, prompt: list[int],
                params: GenerationConfig) -> Answer:
        llm, stops = self._loaded(), self.stop_strings(params)
        if params.seed is not None:
            llm.set_seed(params.seed)
        sampling = params.temperature > 0
        tokens = llm.generate(prompt, temp=params.temperature,
                              top_p=params.top_p if sampling else 1.0,
                              top_k=params.top_k if sampling else 0,
                              repeat_penalty=params.repetition_penalty, reset=True)
        pieces = PieceStream(self.tokenizer, self.stop_ids, stops)
        ids: list[int] = []
        scored: list[TokenLogprob] = []
        aborted = False
        try:
            for token in tokens:
                if request.should_stop():
                    aborted = True
                    break
                if request.logprobs is not None:
                    scored.append(self._logprob(token, request.logprobs))
                ids.append(token)
                self._emit(request, pieces.add(token))
                if pieces.done or len(ids) >= params.max_new_tokens:
                    break
        finally:
            tokens.close()
        self._emit(request, pieces.finish())
        answer = answer_from_ids(self.tokenizer, ids, self.stop_ids, stops,
                                 unfinished="abort" if aborted else "length")
        if request.logprobs is not None:
            answer.logprobs = scored[: answer.tokens]
        return answer

    def _logprob(self, token: int, top: int) -> TokenLogprob:
        """The sampled token's log-probability (and the ``top`` likeliest) from the
        logits llama.cpp computed for this step (its context's last output row; the
        high-level API keeps none unless every position's are kept)."""
        import llama_cpp
        import numpy as np

        llm = self._loaded()
        row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float64)
        peak = logits.max()
        logprobs = logits - (peak + np.log(np.exp(logits - peak).sum()))
        decode = self.tokenizer.decode
        best = np.argsort(logprobs)[::-1][:top]
        return TokenLogprob(decode([token]), float(logprobs[token]),
                            tuple((decode([int(i)]), float(logprobs[i])) for i in best))

    @staticmethod
    def _emit(request: GenerationRequest, piece: Answer | None) -> None:
        if piece is not None and request.on_piece is not None:
            request.on_piece(piece)

    def _loaded(self) -> Any:
        if self._llm is None:
            raise RuntimeError("LlamaCppBackend: call load(config, session) first")
        return self._llm

def _gguf_file(reference: str, what: str) -> Path:
    """The GGUF file ``reference`` names: a ``.gguf`` file, or a folder with one."""
    path = Path(reference).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        raise ConfigError(f"backend llamacpp: {path} holds {len(found)} .gguf files; name "
                          f"the {what} file (backend.{'model' if what == 'model' else 'lora'}"
                          "_file)")
    if path.suffix != ".gguf" or not path.is_file():
        raise ConfigError(f"backend llamacpp: the {what} {reference} is not a .gguf file; "
                          "plugtune export --format gguf writes one")
    return path
