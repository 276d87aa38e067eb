"""The ``transformers`` backend: ``model.generate`` on the run's model.

Batches are left-padded (answers start at the same column) and sorted by length to pad
little; generation ends at eos, at the template's end-of-turn tokens and at any stop
string. The server hands it :class:`~plugtune.sdk.backends.requests.GenerationRequest`
(``answer_requests``): streamed and whole answers share a batch, each streamed row is
decoded as its tokens come, and a row whose request stops (client gone, deadline) ends
alone at the next step. A prompt that, with ``max_new_tokens``, does not fit the
model's context is refused at once.
Conversations with images (see :mod:`plugtune.sdk.backends.vision`) go through the
model's processor when its folder has an image processor; text-only ones never do.
torch, transformers and peft are imported only when a model is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation
from plugtune.sdk.backends import vision
from plugtune.sdk.backends.adapters import (
    CONFIG_ADAPTER,
    adapter_scope,
    attach_adapters,
    select_adapter,
)
from plugtune.sdk.backends.decoding import (
    Answer,
    BatchStreamer,
    PieceStream,
    answer_from_ids,
)
from plugtune.sdk.backends.requests import (
    GenerationRequest,
    RequestsBackend,
    check_context,
    token_logprobs,
)
from plugtune.sdk.backends.stopping import RequestsStopped, StopCriteria

if TYPE_CHECKING:
    from plugtune.core.config import GenerationConfig, RunConfig
    from plugtune.core.session import Session


class TransformersOptions(BaseModel):
    """Where the model runs, how many prompts per batch, and extra adapters by name."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda when available, else cpu."
    )
    batch_size: int = Field(8, gt=0, description="Conversations generated at once.")
    adapters: dict[str, str] = Field(
        default_factory=dict,
        description="PEFT adapters by name, besides model.adapter (named 'default'); "
        "switch with use_adapter(name).",
    )


class TransformersBackend(RequestsBackend):
    """Generate with transformers: batched, streamed, with switchable PEFT adapters."""

    def __init__(
        self, device: str = "auto", batch_size: int = 8, adapters: dict[str, str] | None = None
    ) -> None:
        self.device = device
        self.batch_size = batch_size
        self.extra_adapters = dict(adapters or {})
        self.adapters: dict[str, str] = {}  # loaded: name -> path
        self.adapter: str | None = None  # the active one
        self.generation: GenerationConfig | None = None
        self.tokenizer: Any = None
        self.processor: Any = None  # set when the model takes images
        self.model_path = ""
        self.template: Any = None
        self.stop_ids: list[int] = []
        self._stop_criteria: Any = None
        self._model: Any = None
        # Server threads count prompts while a batch is encoded: one tokenizer, one user.
        self._encoding = threading.Lock()
        # PEFT's disable_adapter (the base model of a model with adapters) is a switch on
        # the shared model, not re-entrant: generations in it run one at a time.
        self._base_model = threading.Lock()

    def load(self, config: RunConfig, session: Session) -> None:
        """Load the config's model, tokenizer, template and adapters."""
        from plugtune.data.templates import resolve_template, stop_token_ids
        from plugtune.data.tokenizer import load_tokenizer
        from plugtune.models import load_causal_lm
        from plugtune.models.sources import resolve_model_path

        adapters = dict(self.extra_adapters)
        if config.model.adapter:
            if CONFIG_ADAPTER in adapters:
                raise ConfigError(f"backend.adapters: {CONFIG_ADAPTER!r} names model.adapter")
            adapters = {CONFIG_ADAPTER: config.model.adapter, **adapters}
        self.tokenizer = load_tokenizer(config.model)
        self.tokenizer.padding_side = "left"
        self.template = resolve_template(session, config.template, self.tokenizer)
        self.stop_ids = stop_token_ids(self.template, self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self.stop_ids[0] if self.stop_ids else 0
        self._stop_criteria = StopCriteria(self.tokenizer, self.stop_ids)
        self.model_path = config.model.path
        self.processor = vision.load_image_processor(
            resolve_model_path(config.model.path), self.tokenizer
        )
        device = _device(self.device)
        quantized = config.quantization is not None
        model_config = config.model
        if device == "cpu" and model_config.dtype == "auto":  # auto means bf16 on a GPU only
            model_config = model_config.model_copy(update={"dtype": "float32"})
        model = load_causal_lm(
            model_config,
            config.quantization,
            device_map={"": device} if quantized else None,
            auto_class="AutoModelForCausalLM"
            if self.processor is None
            else "AutoModelForImageTextToText",
        )
        model = attach_adapters(model, adapters)
        self._model = (model if quantized else model.to(device)).eval()
        self.adapters = adapters
        self.use_adapter(CONFIG_ADAPTER if config.model.adapter else None)
        self.generation = config.generation

    def scorer(self) -> Any:
        """A teacher-forcing scorer on this backend's model, active adapter and template
        (what perplexity scores with): the answers a run generates and the references
        it is scored on are read by the same model."""
        from plugtune.evaluation.teacher_forcing import TeacherForcingScorer

        return TeacherForcingScorer(self._loaded(), self.tokenizer, self.template,
                                    self.batch_size, self.adapter)

    def use_adapter(self, name: str | None) -> None:
        """Generate with the adapter called ``name`` from now on (None: the base model)."""
        select_adapter(self._loaded(), name, self.adapters)
        self.adapter = name

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]:
        """One answer per request, in order: prompts regrouped by length into batches of
        ``batch_size``; each row streams to its request's ``on_piece`` and ends alone
        when its request should stop. A prompt that leaves no room for
        ``max_new_tokens`` in the model's context is refused before anything runs."""
        model, params = self._loaded(), params or self.generation
        prompts = [self._request_prompt(request) for request in requests]
        order = sorted(range(len(prompts)), key=lambda index: -len(prompts[index][0]))
        answers: list[Answer] = [Answer("", 0)] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            with self._encoding:
                inputs = self._encode([prompts[index] for index in batch])
            for row, index in enumerate(batch):
                check_context(int(inputs["attention_mask"][row].sum()), params.max_new_tokens,
                              self.context_length, requests[index].conversation.origin)
            for index, answer in zip(batch, self._answer_batch(
                    model, inputs, params, [requests[index] for index in batch]), strict=True):
                answers[index] = answer
        return answers

    def _answer_batch(self, model: Any, inputs: Any, params: GenerationConfig,
                      requests: list[GenerationRequest]) -> list[Answer]:
        """Generate one batch: streamed rows get their pieces as they come; a row whose
        request stopped early is answered with what it had (finish reason ``abort``)."""
        prompt_length = inputs["input_ids"].shape[1]
        stopped = RequestsStopped(requests, prompt_length)
        streamer = None
        if any(request.on_piece is not None for request in requests):
            stops = self.stop_strings(params)
            streamer = BatchStreamer(
                [PieceStream(self.tokenizer, self.stop_ids, stops) if request.on_piece
                 else None for request in requests],
                [request.on_piece for request in requests])
        scored = any(request.logprobs is not None for request in requests)
        output = self._run(model, inputs, params, stopped, streamer, scored=scored)
        sequences = output.sequences if scored else output
        answers = []
        for row, ids in enumerate(sequences[:, prompt_length:].tolist()):
            cut = stopped.stopped_at.get(row)
            answer = answer_from_ids(
                self.tokenizer, ids if cut is None else ids[:cut], self.stop_ids,
                self.stop_strings(params), unfinished="length" if cut is None else "abort")
            if requests[row].logprobs is not None:
                answer.logprobs = token_logprobs(self.tokenizer, output.logits, row,
                                                 ids[: answer.tokens], requests[row].logprobs)
            answers.append(answer)
        return answers

    def _run(self, model: Any, inputs: Any, params: GenerationConfig,
             stopped: RequestsStopped, streamer: Any = None, scored: bool = False) -> Any:
        import torch

        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "repetition_penalty": params.repetition_penalty,
            "do_sample": sampling,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": self._stop_criteria(self.stop_strings(params), stopped),
            "streamer": streamer,
        }
        if scored:  # the raw logits of each step, for logprobs
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        if params.seed is not None:  # the batcher batches a seed only with the same seed
            torch.manual_seed(params.seed)
        switching = self.adapter is None and hasattr(model, "disable_adapter")
        with (torch.inference_mode(), self._base_model if switching else nullcontext(),
              adapter_scope(model, self.adapter)):
            return model.generate(**inputs, **kwargs)

    @property
    def context_length(self) -> int | None:
        """How many tokens the model holds (prompt and answer), from its config."""
        config = self._loaded().config
        config = getattr(config, "text_config", None) or config
        return getattr(config, "max_position_embeddings", None)

    def _request_prompt(self, request: GenerationRequest) -> tuple[str, list[Any]]:
        """A text completion's raw prompt as given, else the conversation's."""
        if request.prompt is not None:
            return request.prompt, []
        return self._prompt(request.conversation, request.template)

    def prompt_tokens(self, request: GenerationRequest) -> int:
        """The length of the request's prompt in tokens (images expanded)."""
        with self._encoding:
            return int(self._encode([self._request_prompt(request)])["input_ids"].shape[1])

    def _loaded(self) -> Any:
        if self._model is None:
            raise RuntimeError("TransformersBackend: call load(config, session) first")
        return self._model

    @property
    def model(self) -> Any:
        """The loaded model (a PEFT model when adapters are loaded), for callers that
        score with it rather than generate, such as the perplexity metric."""
        return self._loaded()

    @property
    def takes_images(self) -> bool:
        """Whether the loaded model has an image processor (conversations may have images)."""
        return self.processor is not None

    def _prompt(self, conversation: Conversation,
                template: Any = None) -> tuple[str, list[Any]]:
        """The rendered prompt and the conversation's images (loaded)."""
        if self.processor is None and vision.conversation_images(conversation):
            raise ConfigError(
                f"{conversation.origin or 'conversation'}: {vision.IMAGES_KEY}: model "
                f"{self.model_path!r} takes no images (its folder has no image processor)"
            )
        conversation, images = vision.prepare(conversation)
        return self.render_prompt(conversation, template), images

    def _encode(self, prompts: list[tuple[str, list[Any]]]) -> Any:
        texts = [text for text, _ in prompts]
        if any(images for _, images in prompts):
            encoded = vision.encode_with_images(self.processor, texts, [i for _, i in prompts])
            return encoded.to(self._model.device, dtype=self._model.dtype)
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True,
                                 add_special_tokens=False)
        return encoded.to(self._model.device)


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("backend.device: cuda, but torch sees no CUDA device")
    return choice
