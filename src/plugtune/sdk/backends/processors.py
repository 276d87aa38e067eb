"""A vision-language model's processor, also where transformers cannot build it whole.

transformers 5's processors of Qwen2-VL, Qwen2.5-VL and Qwen3-VL take a video processor
as well as an image processor, and those video processors import torchvision. Where
torchvision is missing or broken (a CPU-only torch has no matching torchvision wheel on
PyPI, the case on these machines), ``AutoProcessor`` fails for these models although
their image processors have a plain PIL backend. plugtune reads images only (video
records are refused by name), so there it builds the same processor class without its
video processor: every image path — the pixel values, the image tokens, the model
inputs such as ``image_grid_thw`` and ``mm_token_type_ids`` — is the class's own code.

The image *prompt* is also read here: Qwen-VL models write each image as
``<|vision_start|><|image_pad|>…<|vision_end|>``, but only the model's config names the
two delimiters (``vision_start_token_id``, ``vision_end_token_id``); their chat templates
write them, their processors expand only the pad token. LLaVA's prompt is its image token.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from plugtune.compat.transformers import cached_model_file, images_only, takes_video_processor

#: Where the config of a model folder names its image prompt's delimiters.
DELIMITER_FIELDS = ("vision_start_token_id", "vision_end_token_id")


def load_processor(path: str) -> Any:
    """``AutoProcessor.from_pretrained(path)``, or, where only the video processor cannot
    be built (no usable torchvision), the same class with images alone."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(path)
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        processor_class = saved_processor_class(path)
        if (processor_class is None or not takes_video_processor(processor_class)
                or torchvision_usable()):
            raise
        from transformers import AutoImageProcessor, AutoTokenizer

        processor = images_only(processor_class, AutoImageProcessor.from_pretrained(path),
                                AutoTokenizer.from_pretrained(path),
                                video_settings=saved_video_settings(path))
    name_delimiters(processor, path)
    return processor


def torchvision_usable() -> bool:
    """Whether torchvision imports (PyPI's CUDA build beside a CPU torch does not)."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        return False
    return True


def saved_processor_class(path: str) -> type | None:
    """The transformers class named by the folder's ``processor_config.json``."""
    import transformers

    config = cached_model_file(path, "processor_config.json")
    if config is None:
        return None
    name = json.loads(config.read_text(encoding="utf-8")).get("processor_class")
    found = getattr(transformers, str(name), None) if name else None
    return found if isinstance(found, type) else None


def saved_video_settings(path: str) -> dict[str, Any] | None:
    """The video processor's settings saved in the folder (in processor_config.json, or
    transformers' separate video_preprocessor_config.json), if any."""
    separate = cached_model_file(path, "video_preprocessor_config.json")
    if separate is not None:
        return dict(json.loads(separate.read_text(encoding="utf-8")))
    combined = cached_model_file(path, "processor_config.json")
    if combined is not None:
        return json.loads(combined.read_text(encoding="utf-8")).get("video_processor")
    return None


def name_delimiters(processor: Any, path: str) -> None:
    """Give the processor the ``vision_start_token``/``vision_end_token`` attributes that
    transformers' Qwen3-VL processors have, from the model config's token ids, where the
    processor lacks them (Qwen2-VL's and Qwen2.5-VL's)."""
    from transformers import AutoConfig

    if getattr(processor, "vision_start_token", None):
        return
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError):  # a processor folder without a model config
        return
    ids = [getattr(config, name, None) for name in DELIMITER_FIELDS]
    if all(isinstance(token_id, int) for token_id in ids):
        processor.vision_start_token, processor.vision_end_token = (
            processor.tokenizer.convert_ids_to_tokens(ids))
