"""The vision half of a tiny vision-language model: its config and its processor.

A tiny VLM is the architecture's tiny language model wrapped, as transformers' own
VLMs are, by a config that adds an image encoder (random-init like the rest) and by a
processor that turns images into pixels and expands the image token into one token
per image patch. ``AutoProcessor.from_pretrained(folder)`` then works offline like
``AutoTokenizer`` does. Only classes with a PIL backend are used: torchvision has no
CPU wheel here, and transformers 5's "fast" image processors need it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.tiny.architectures import TinyArchitecture, TinyVision

if TYPE_CHECKING:
    from transformers import PretrainedConfig

#: The file ``AutoProcessor`` reads; the tokenizer files beside it are the tokenizer's.
PROCESSOR_FILE = "processor_config.json"


def vision_of(arch: TinyArchitecture) -> TinyVision:
    if arch.vision is None:
        raise ValueError(f"tiny architecture {arch.name!r} has no vision part")
    return arch.vision


def wrap_config(arch: TinyArchitecture, text_config: PretrainedConfig) -> PretrainedConfig:
    """The VLM config around ``text_config``: image encoder sizes and image token id."""
    import transformers

    vision = vision_of(arch)
    encoder = getattr(transformers, vision.vision_config_class)(**vision.vision_config)
    return getattr(transformers, vision.config_class)(
        text_config=text_config,
        vision_config=encoder,
        image_token_id=arch.token_id(vision.image_token),
        **{name: arch.token_id(token) for name, token in vision.token_fields.items()},
        tie_word_embeddings=text_config.tie_word_embeddings,
        **vision.config,
    )


def save_processor(arch: TinyArchitecture, out_dir: Path) -> None:
    """Write processor_config.json next to the tokenizer already saved in ``out_dir``.

    The processor is saved into a scratch folder and only its own file is kept: a
    processor's ``save_pretrained`` also rewrites the tokenizer files, which would drop
    the ``tokenizer_class`` pin that :func:`plugtune.tiny.tokenizer.save_tokenizer` adds.
    """
    import tempfile

    import transformers
    from transformers import AutoTokenizer

    from plugtune.compat.transformers import images_only, takes_video_processor

    vision = vision_of(arch)
    image_processor = getattr(transformers, vision.image_processor_class)(
        **vision.image_processor
    )
    tokenizer = AutoTokenizer.from_pretrained(str(out_dir))
    processor_class = getattr(transformers, vision.processor_class)
    if takes_video_processor(processor_class):  # its video processor is written as data
        processor = images_only(processor_class, image_processor, tokenizer,
                                video_settings=dict(vision.video_processor or {}),
                                **vision.processor)
    else:
        processor = processor_class(
            image_processor=image_processor, tokenizer=tokenizer, **vision.processor
        )
    with tempfile.TemporaryDirectory() as scratch:
        processor.save_pretrained(scratch)
        saved: dict[str, Any] = json.loads((Path(scratch) / PROCESSOR_FILE).read_text("utf-8"))
    (out_dir / PROCESSOR_FILE).write_text(
        json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
