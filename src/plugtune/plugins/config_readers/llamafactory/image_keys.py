"""The image and video keys of a LLaMA-Factory config (part of :mod:`.llamafactory`).

LLaMA-Factory scales every image to its pixel budget before the model's processor sees
it (``image_max_pixels``, default 768×768; ``image_min_pixels``, default 32×32):
plugtune's ``data.image_max_pixels``/``data.image_min_pixels`` apply the same rule. The
defaults are stated in the converted config when the config trains a vision-language
model (a multimodal template, or a pixel key given), so the images are the size
LLaMA-Factory would train on; inference configs leave sizing to the processor. Its
video keys size videos only; plugtune refuses a record with videos by name, so they can
change nothing and are notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion

# LLaMA-Factory key -> its default (hparams/model_args.py).
PIXEL_KEYS = {"image_max_pixels": 768 * 768, "image_min_pixels": 32 * 32}
VIDEO_KEYS = ("video_max_pixels", "video_min_pixels", "video_fps", "video_maxlen")
VIDEO_NOTE = ("sizes video inputs only; plugtune reads images, and refuses a record with "
              "videos by name (its videos column): has no effect")


def map_images(conv: Conversion, *, multimodal: bool) -> None:
    """The pixel budget of training images, and notes for the video keys.
    ``multimodal``: the config's template is a vision-language model's."""
    if not conv.training:
        for key in PIXEL_KEYS:
            if conv.has(key):
                conv.note(key, "plugtune applies it to training images; its backends size "
                          "images by the processor's own settings: has no effect")
    elif multimodal or any(conv.has(key) for key in PIXEL_KEYS):
        for key, default in PIXEL_KEYS.items():
            conv.put(f"data.{key}", conv.get(key, default))
    for key in VIDEO_KEYS:
        if conv.has(key):
            conv.note(key, VIDEO_NOTE)
