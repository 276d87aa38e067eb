"""Image conversations as training rows for a vision-language model.

Why it is built this way:

- Rows are encoded exactly as text rows are (the run's template, prompts masked, one
  Rust tokenizer call per batch), with each ``<image>`` placeholder (LLaMA-Factory's, kept
  by the loaders with the ``images`` column in ``meta``) written as the processor's image
  token: one token per image at this stage, so ``cutoff_len`` counts an image as one
  token, and a cut that drops an image's token drops the image with it.
- :class:`ImageCollator` loads a batch's images, turns them into pixels with the
  processor's image processor, and expands each image token into the run of tokens the
  processor gives that image (LLaVA: one per patch). The run is never trained (label
  -100); prompt and answer labels stay as encoded. Images are read per batch and dropped
  with it, so a dataset of images never sits in memory, and a missing or unreadable file
  names its record and file when its batch comes.
- Before training, the first row with images is expanded by the collator and compared
  with the processor's own encoding of the same text and images: a processor that
  expands differently (a family whose image prompt is more than one token) is a clear
  error before the first step, not a silent misalignment of labels and pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from plugtune.core.config import DataConfig, ModelConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record
from plugtune.data.encoding import IGNORE_INDEX, EncodedExample
from plugtune.sdk.backends.vision import (
    IMAGE_PLACEHOLDER,
    conversation_images,
    fit_pixels,
    image_prompt,
    image_token,
    load_image,
    load_image_processor,
    with_placeholders,
)
from plugtune.training.rows.collators import PaddingCollator


def text_only(record: Record, trainer: str) -> None:
    """Refuse a record with images for a ``trainer`` that reads text only (all but sft
    and pt): training on its placeholders as text would teach the model to answer
    about pictures it never saw."""
    if isinstance(record, Preference):
        conversation = record.prompt
    elif isinstance(record, LabeledCompletion):
        conversation = record.conversation
    elif isinstance(record, Conversation):
        conversation = record
    else:
        return
    if conversation_images(conversation):
        raise ConfigError(
            f"{record.origin or 'record'}: images: trainer {trainer!r} trains on text only; "
            "image conversations train with sft, image preference pairs with dpo"
        )


def first_with_images(records: Iterable[Record]) -> Conversation | None:
    """The first conversation that has images (video and audio are refused on the way)."""
    for record in records:
        if isinstance(record, Conversation) and conversation_images(record):
            return record
    return None


def image_processor_for(model: ModelConfig, tokenizer: Any,
                        with_images: Conversation | None) -> Any | None:
    """The model's processor (None for a text model), given ``tokenizer``; a record
    with images (``with_images``) for a model without an image processor is an error."""
    from plugtune.models.sources import resolve_model_path

    processor = load_image_processor(resolve_model_path(model.path), tokenizer)
    if processor is None and with_images is not None:
        raise ConfigError(
            f"{with_images.origin or 'conversation'}: images: model {model.path!r} takes no "
            "images (its folder has no image processor); train a vision-language model, "
            "or switch the column off (columns: {images: null})"
        )
    return processor


def with_image_tokens(records: Iterable[Record], processor: Any) -> list[Record]:
    """The records, each conversation with images given one placeholder per image (in
    front of the first user turn when it has none) written as the processor's token."""
    prompt = image_prompt(processor)
    written = []
    for record in records:
        if isinstance(record, Conversation) and (images := conversation_images(record)):
            record = with_placeholders(record, len(images))
            if prompt != IMAGE_PLACEHOLDER:
                record = replace(record, messages=tuple(
                    replace(m, content=m.content.replace(IMAGE_PLACEHOLDER, prompt))
                    for m in record.messages))
        written.append(record)
    return written


@dataclass(frozen=True)
class ImageCollator:
    """Right-padded rows with their images: each image token expanded into the image's
    tokens (never trained), ``pixel_values`` (and whatever else the image processor
    gives the model, such as Qwen-VL's ``image_grid_thw``) built from the batch's images
    alone, and the image positions (``mm_token_type_ids``) where the processor gives
    them to its model."""

    processor: Any
    pad_token_id: int
    pad_to_multiple_of: int | None = None
    max_pixels: int | None = None
    """Larger images are scaled down to this many pixels before the processor sees them
    (``data.image_max_pixels``); ``min_pixels``: smaller ones up."""
    min_pixels: int | None = None

    def __call__(self, examples: Sequence[EncodedExample]) -> dict[str, Any]:
        rows, image_inputs = self.expand(examples)
        batch = PaddingCollator(self.pad_token_id, self.pad_to_multiple_of)(rows)
        batch.update(image_inputs)
        if image_inputs and getattr(self.processor, "return_mm_token_type_ids", False):
            import torch

            # which positions hold image tokens: Qwen-VL's multimodal RoPE places them
            types = self.processor.create_mm_token_type_ids(batch["input_ids"].tolist())
            batch["mm_token_type_ids"] = torch.tensor(types, dtype=torch.long)
        return batch

    @property
    def image_token_id(self) -> int:
        token_id = getattr(self.processor, "image_token_id", None)
        if token_id is None:
            token_id = self.processor.tokenizer.convert_tokens_to_ids(image_token(self.processor))
        return int(token_id)

    def expand(self, examples: Sequence[EncodedExample]
               ) -> tuple[list[EncodedExample], dict[str, Any]]:
        """The rows with image tokens expanded, and the image processor's inputs."""
        token_id = self.image_token_id
        placed = [[i for i, t in enumerate(e.input_ids) if t == token_id] for e in examples]
        images = []
        for example, positions in zip(examples, placed, strict=True):
            if len(positions) > len(example.images):
                raise ConfigError(
                    f"{example.origin or 'row'}: {len(positions)} image token(s) in the text "
                    f"but {len(example.images)} image(s)")
            # a cut at cutoff_len that took an image's token took the image too
            images += [fit_pixels(load_image(item, origin=example.origin or "row", index=index),
                                  self.max_pixels, self.min_pixels)
                       for index, item in enumerate(example.images[: len(positions)])]
        if not images:
            return list(examples), {}
        inputs = self.processor.image_processor(images, return_tensors="pt")
        runs = iter(self._image_runs(inputs, len(images)))
        rows = [_expanded(example, positions, [next(runs) for _ in positions])
                for example, positions in zip(examples, placed, strict=True)]
        unused = set(getattr(self.processor, "unused_input_names", None) or ())
        return rows, {key: value for key, value in inputs.items() if key not in unused}

    def _image_runs(self, inputs: Any, count: int) -> list[list[int]]:
        """The token ids each image's placeholder becomes, as the processor writes them."""
        texts = [self.processor.replace_image_token(inputs, image_idx=i) for i in range(count)]
        unique = sorted(set(texts))
        tokenized = self.processor.tokenizer(unique, add_special_tokens=False)["input_ids"]
        ids = dict(zip(unique, tokenized, strict=True))
        return [ids[text] for text in texts]


def _expanded(example: EncodedExample, positions: Sequence[int],
              runs: Sequence[list[int]]) -> EncodedExample:
    ids: list[int] = []
    labels: list[int] = []
    start = 0
    for position, run in zip(positions, runs, strict=True):
        ids += [*example.input_ids[start:position], *run]
        labels += [*example.labels[start:position], *[IGNORE_INDEX] * len(run)]
        start = position + 1
    ids += example.input_ids[start:]
    labels += example.labels[start:]
    return EncodedExample(ids, labels, example.origin)


def checked_collator(processor: Any, tokenizer: Any, template: ChatTemplate,
                     first: Conversation, data: DataConfig) -> ImageCollator:
    """The collator of a run's rows with images, sized by ``data``'s pixel budget, after
    checking its expansion of ``first`` (a conversation with images, its placeholders
    written) against the processor's own: before any step, for sft and dpo alike."""
    from plugtune.training.rows.collators import pad_id
    from plugtune.training.run.causal_lm import pad_multiple

    collator = ImageCollator(processor, pad_id(tokenizer), pad_multiple(),
                             data.image_max_pixels, data.image_min_pixels)
    check_expansion(first, template, tokenizer, collator)
    return collator


def check_expansion(conversation: Conversation, template: ChatTemplate, tokenizer: Any,
                    collator: ImageCollator) -> None:
    """Compare the collator's expansion of ``conversation`` (placeholders written) with
    the processor's own encoding of the same text and images; a difference is an error
    naming the record and the first token that differs."""
    origin = conversation.origin or "conversation"
    text = "".join(segment.text for segment in template.segments(conversation))
    ids = tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids
    images = conversation_images(conversation)
    ours = collator.expand([EncodedExample(ids, ids, origin, tuple(images))])[0][0].input_ids
    loaded = [fit_pixels(load_image(item, origin=origin, index=i), collator.max_pixels,
                         collator.min_pixels) for i, item in enumerate(images)]
    theirs = collator.processor(text=[text], images=loaded, add_special_tokens=False)
    theirs = list(theirs["input_ids"][0])
    if ours != theirs:
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                  min(len(ours), len(theirs)))
        raise ConfigError(
            f"{origin}: the model's processor expands images into other tokens than plugtune "
            f"does (first difference at token {at}: plugtune {ours[at:at + 8]}, processor "
            f"{theirs[at:at + 8]}); plugtune trains vision-language models whose image "
            "prompt is the processor's image token"
        )
