"""Images for the transformers backend: where they live, how they become model inputs.

A conversation's images are ``Conversation.meta["images"]`` (paths, ``data:`` URLs,
raw bytes or PIL images), and each one is marked in the message text by an ``<image>``
placeholder, which is LLaMA-Factory's multimodal format. They are not a field of
:class:`~plugtune.core.records.Message` because ``Message.content`` stays a plain string
that every template, loader, trainer and metric already handles; the loaders already
keep the ``images`` column in ``meta`` with relative paths resolved against the dataset
folder; and so the record that trains a VLM is the record that prompts it. Without any
placeholder the images go in front of the first user turn, as LLaMA-Factory does.

The prompt is rendered by plugtune's template like any other, then the model's processor
expands each placeholder into the model's image tokens and turns the images into pixels
(training does the same per batch: :mod:`plugtune.training.rows.images`). Video and audio
(``meta["videos"]``, ``meta["audios"]``, which the loaders keep too) are refused by name:
no model here can test them, and an answer or a training step that silently dropped them
would look like it worked. Pillow and transformers are imported only when images are used.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.core.records import Conversation, RecordError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Marks where an image goes in message text (LLaMA-Factory's placeholder).
IMAGE_PLACEHOLDER = "<image>"

#: Files that hold a processor's settings; a folder without them has no image processor.
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")

#: The key of ``Conversation.meta`` that holds the images.
IMAGES_KEY = "images"

#: Media the loaders keep in ``meta`` that no plugtune model path reads.
REFUSED_MEDIA = ("videos", "audios")


def load_image_processor(path: str, tokenizer: Any = None) -> Any | None:
    """The processor of the model folder ``path`` if it has an image processor, else None.

    The processor is given ``tokenizer`` when one is passed (the backend's, left-padded,
    pad token set) so that image prompts are tokenized exactly as text prompts are.
    """
    folder = Path(path)
    if folder.is_dir() and not any((folder / name).is_file() for name in PROCESSOR_FILES):
        return None
    from plugtune.sdk.backends.processors import load_processor

    try:
        processor = load_processor(path)
    except (OSError, ValueError):  # a hub id without a processor, or not reachable
        return None
    if getattr(processor, "image_processor", None) is None:
        return None
    if tokenizer is not None:
        processor.tokenizer = tokenizer
    return processor


def image_token(processor: Any) -> str:
    """The token the processor expands into an image's tokens (``<image>`` for LLaVA,
    ``<|image_pad|>`` for Qwen-VL)."""
    return getattr(processor, "image_token", None) or IMAGE_PLACEHOLDER


def image_prompt(processor: Any) -> str:
    """What each placeholder becomes in the rendered text: the image token, between the
    model's image delimiters where it has them (Qwen-VL's ``<|vision_start|>`` and
    ``<|vision_end|>``, set by :func:`~plugtune.sdk.backends.processors.load_processor`)."""
    start = getattr(processor, "vision_start_token", None) or ""
    end = getattr(processor, "vision_end_token", None) or ""
    return f"{start}{image_token(processor)}{end}"


def save_processor_files(processor: Any, target: Path) -> None:
    """Write the processor's own files (``processor_config.json`` …) into ``target``.
    The processor is saved into a scratch folder and only its own files are kept: its
    ``save_pretrained`` also writes tokenizer files and a chat template, which would
    replace the tokenizer and the run's template saved beside."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        processor.save_pretrained(scratch)
        for name in PROCESSOR_FILES:
            if (Path(scratch) / name).is_file():
                shutil.copyfile(Path(scratch) / name, Path(target) / name)


def conversation_images(conversation: Conversation) -> list[Any]:
    """The conversation's images (``meta["images"]``), checked to be a list; videos and
    audio are refused by name."""
    where = conversation.origin or "conversation"
    for media in REFUSED_MEDIA:
        if conversation.meta.get(media):
            raise RecordError(
                where, media, "plugtune reads images only: video and audio inputs are not "
                f"supported (switch the column off with columns: {{{media}: null}})")
    images = conversation.meta.get(IMAGES_KEY) or []
    if not isinstance(images, list | tuple):
        raise RecordError(where, IMAGES_KEY, f"must be a list, got {type(images).__name__}")
    return list(images)


def with_placeholders(conversation: Conversation, count: int) -> Conversation:
    """The conversation with one placeholder per image (put before the first user turn
    when it has none); a different number of placeholders is an error."""
    placed = sum(message.content.count(IMAGE_PLACEHOLDER) for message in conversation.messages)
    if placed == count:
        return conversation
    if placed:
        raise RecordError(
            conversation.origin or "conversation",
            IMAGES_KEY,
            f"{count} image(s) but {placed} {IMAGE_PLACEHOLDER} placeholder(s) in the messages",
        )
    first_user = next((i for i, m in enumerate(conversation.messages) if m.role == "user"), None)
    if first_user is None:
        raise RecordError(conversation.origin or "conversation", IMAGES_KEY, "no user turn")
    messages = list(conversation.messages)
    user = messages[first_user]
    messages[first_user] = replace(user, content=IMAGE_PLACEHOLDER * count + user.content)
    return replace(conversation, messages=tuple(messages))


def load_image(item: Any, *, origin: str, index: int) -> Image:
    """An RGB PIL image from a path, a ``data:`` URL, bytes or a PIL image."""
    from PIL import Image, UnidentifiedImageError

    field = f"{IMAGES_KEY}[{index}]"
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, str) and item.startswith("data:"):
        item = decode_data_url(item, origin=origin, field=field)
    if isinstance(item, bytes):
        source: Any = io.BytesIO(item)
    elif isinstance(item, str):
        if "://" in item:
            raise RecordError(origin, field, f"{item!r}: only local files and data: URLs")
        if not Path(item).is_file():
            raise RecordError(origin, field, f"no such image file {item!r}")
        source = item
    else:
        raise RecordError(origin, field, f"must be a path or an image, got {type(item).__name__}")
    try:
        with Image.open(source) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        what = f"{item!r} is " if isinstance(item, str) else ""
        raise RecordError(origin, field, f"{what}not a readable image: {error}") from None


def fit_pixels(image: Image, max_pixels: int | None, min_pixels: int | None) -> Image:
    """The image scaled (aspect ratio kept) to at most ``max_pixels`` and at least
    ``min_pixels`` pixels, LLaMA-Factory's ``image_max_pixels``/``image_min_pixels``
    rule, before the processor applies its own sizing."""
    if max_pixels is not None and image.width * image.height > max_pixels:
        image = _scaled_to(image, max_pixels)
    if min_pixels is not None and image.width * image.height < min_pixels:
        image = _scaled_to(image, min_pixels)
    return image


def _scaled_to(image: Image, pixels: int) -> Image:
    """Each side times sqrt(pixels / the image's pixels), rounded down."""
    import math

    factor = math.sqrt(pixels / (image.width * image.height))
    return image.resize((int(image.width * factor), int(image.height * factor)))


def decode_data_url(url: str, *, origin: str, field: str) -> bytes:
    """The bytes of a base64 ``data:image/...;base64,...`` URL."""
    header, _, payload = url.partition(",")
    if not header.endswith(";base64") or not payload:
        raise RecordError(origin, field, "data: URL must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(origin, field, "data: URL is not valid base64") from None


def prepare(conversation: Conversation) -> tuple[Conversation, list[Image]]:
    """The conversation with its placeholders in place, and its images loaded."""
    images = conversation_images(conversation)
    if not images:
        return conversation, []
    origin = conversation.origin or "conversation"
    loaded = [load_image(item, origin=origin, index=i) for i, item in enumerate(images)]
    return with_placeholders(conversation, len(images)), loaded


def encode_with_images(
    processor: Any, prompts: Sequence[str], images: Sequence[Sequence[Image]]
) -> Any:
    """Processor inputs for rendered ``prompts`` and each prompt's images, left-padded."""
    prompt_text = image_prompt(processor)
    texts = [prompt.replace(IMAGE_PLACEHOLDER, prompt_text) for prompt in prompts]
    flat = [image for group in images for image in group]
    return processor(
        text=texts,
        images=flat or None,
        return_tensors="pt",
        padding=True,
        add_special_tokens=False,
    )
