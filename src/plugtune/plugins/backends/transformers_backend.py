"""The ``transformers`` backend: ``model.generate`` on the run's model.

Batches are left-padded (answers start at the same column) and sorted by length to pad
little; generation ends at eos, at the template's end-of-turn tokens and at any stop
string; streaming runs ``generate`` in a thread and decodes the ids as they come.
Conversations with images (see :mod:`plugtune.sdk.backends.vision`) go through the
model's processor when its folder has an image processor; text-only ones never do.
torch, transformers and peft are imported only when a model is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
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
    TokenQueue,
    answer_from_ids,
    answer_pieces,
    streamed_until_stop,
)
from plugtune.sdk.backends.stopping import StopCriteria
from plugtune.sdk.turns import check_messages

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


class TransformersBackend:
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

    def load(self, config: RunConfig, session: Session) -> None:
        """Load the config's model, tokenizer, template and adapters."""
        from plugtune.data.templates import resolve_template, stop_token_ids
        from plugtune.data.tokenizer import load_tokenizer
        from plugtune.models import load_causal_lm
        from plugtune.tiny import resolve_model_path

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

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationConfig | None = None
    ) -> list[str]:
        """One answer per conversation, in order."""
        model, params = self._loaded(), params or self.generation
        prompts = [self._prompt(conversation) for conversation in conversations]
        order = sorted(range(len(prompts)), key=lambda index: -len(prompts[index][0]))
        answers = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            inputs = self._encode([prompts[index] for index in batch])
            output = self._run(model, inputs, params)
            completions = output[:, inputs["input_ids"].shape[1] :].tolist()
            for index, ids in zip(batch, completions, strict=True):
                answers[index] = answer_from_ids(self.tokenizer, ids, self.stop_ids,
                                                 self._stops(params))
        return answers

    def stream(
        self, conversation: Conversation, params: GenerationConfig | None = None
    ) -> Iterator[str]:
        """The answer to ``conversation`` in pieces, as the tokens are generated."""
        model, params = self._loaded(), params or self.generation
        inputs = self._encode([self._prompt(conversation)])
        tokens, cancelled = TokenQueue(), threading.Event()
        thread = threading.Thread(
            target=tokens.run,
            args=(lambda: self._run(model, inputs, params, streamer=tokens, cancelled=cancelled),),
            daemon=True,
        )
        thread.start()
        try:
            yield from answer_pieces(streamed_until_stop(tokens, self.stop_ids),
                                     self.tokenizer, self._stops(params))
        finally:  # also when the reader stops early: end generation, then the thread
            cancelled.set()
            thread.join()

    def _run(
        self,
        model: Any,
        inputs: Any,
        params: GenerationConfig,
        streamer: Any = None,
        cancelled: threading.Event | None = None,
    ) -> Any:
        import torch

        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "repetition_penalty": params.repetition_penalty,
            "do_sample": sampling,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": self._stop_criteria(self._stops(params), cancelled),
            "streamer": streamer,
        }
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        with torch.inference_mode(), adapter_scope(model, self.adapter):
            return model.generate(**inputs, **kwargs)

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

    def _prompt(self, conversation: Conversation) -> tuple[str, list[Any]]:
        """The rendered prompt and the conversation's images (loaded)."""
        if self.processor is None and vision.conversation_images(conversation):
            raise ConfigError(
                f"{conversation.origin or 'conversation'}: {vision.IMAGES_KEY}: model "
                f"{self.model_path!r} takes no images (its folder has no image processor)"
            )
        conversation, images = vision.prepare(conversation)
        return self._render(conversation), images

    def _render(self, conversation: Conversation) -> str:
        origin = conversation.origin or "conversation"
        check_messages(conversation.messages, origin=origin, final="prompt")
        return self.template.render(conversation, add_generation_prompt=True)

    def _encode(self, prompts: list[tuple[str, list[Any]]]) -> Any:
        texts = [text for text, _ in prompts]
        if any(images for _, images in prompts):
            encoded = vision.encode_with_images(self.processor, texts, [i for _, i in prompts])
            return encoded.to(self._model.device, dtype=self._model.dtype)
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True,
                                 add_special_tokens=False)
        return encoded.to(self._model.device)

    def _stops(self, params: GenerationConfig) -> list[str]:
        return [*self.template.stop_strings, *params.stop]


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("backend.device: cuda, but torch sees no CUDA device")
    return choice
