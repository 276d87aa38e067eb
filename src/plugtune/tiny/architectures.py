"""What differs between the tiny architectures, written down as data.

Everything the builder needs to know about an architecture lives in one
:class:`TinyArchitecture` record: the transformers classes, the config fields, the
tokenizer pipeline, the special tokens and the chat template. Adding an architecture
means adding a record to :data:`ARCHITECTURE_SPECS`; no builder code branches on names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from plugtune.tiny.templates import LLAMA_CHAT_TEMPLATE, QWEN2_CHAT_TEMPLATE

#: Sizes shared by every tiny model: about 5M parameters, so a training step takes
#: milliseconds on a CPU while every code path of a real model is still exercised.
COMMON_CONFIG: Mapping[str, Any] = MappingProxyType(
    {
        "vocab_size": 8000,
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 688,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "use_cache": True,
    }
)

#: Qwen2's pre-tokenizer split (digits one by one). Qwen2Tokenizer rebuilds its pipeline
#: with this regex whatever tokenizer.json says, so the tokenizer is trained with it too.
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Llama 3's pre-tokenizer split (digits in groups of up to three).
LLAMA3_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class TinyVision:
    """The vision half of a tiny vision-language model (see :mod:`plugtune.tiny.vision`).

    The language model is the architecture's own (``config_class``); this record says
    which transformers classes wrap it with an image encoder, the encoder's sizes, and
    the processor that turns images into pixels and image tokens.
    """

    config_class: str
    """The wrapping config, e.g. ``LlavaConfig``; ``text_config`` is the arch's config."""
    vision_config_class: str
    vision_config: Mapping[str, Any]
    processor_class: str
    image_processor_class: str
    image_processor: Mapping[str, Any]
    image_token: str
    """One of the architecture's ``special_tokens``; the processor repeats it per patch."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """Fields of the wrapping config besides the sub-configs and the image token id."""
    processor: Mapping[str, Any] = field(default_factory=dict)
    token_fields: Mapping[str, str] = field(default_factory=dict)
    """Fields of the wrapping config that hold the id of one of ``special_tokens``
    (Qwen2-VL's ``vision_start_token_id`` …), by the token's text."""
    video_processor: Mapping[str, Any] | None = None
    """The video processor's settings saved with the processor, for a processor class
    that has one (its class needs torchvision to be built, so it is written as data)."""


@dataclass(frozen=True)
class TinyArchitecture:
    """One tiny architecture: everything that is not shared by all of them.

    Token fields name tokens from ``special_tokens``, whose order fixes their ids (0, 1, …).
    """

    name: str
    model_class: str
    """transformers class that is instantiated, e.g. ``Qwen2ForCausalLM``."""
    config_class: str
    special_tokens: tuple[str, ...]
    eos_token: str
    pad_token: str
    bos_token: str | None
    generation_eos_tokens: tuple[str, ...]
    """Tokens that stop generation: end of turn first, then end of text."""
    split_regex: str
    nfc: bool
    """Whether the tokenizer applies NFC normalization (Qwen2's does, Llama 3's does not)."""
    prepend_bos: bool
    """Whether encoding text adds the bos token in front, as Llama 3's tokenizer does."""
    tokenizer_class: str
    """Written to tokenizer_config.json; decides which class ``AutoTokenizer`` returns."""
    chat_template: str
    config: Mapping[str, Any] = field(default_factory=dict)
    """Config fields on top of :data:`COMMON_CONFIG`."""
    vision: TinyVision | None = None
    """Set for vision-language models: ``model_class`` then names the wrapping model."""

    def token_id(self, token: str) -> int:
        """Id of a special token (its position in ``special_tokens``)."""
        return self.special_tokens.index(token)


QWEN2 = TinyArchitecture(
    name="qwen2",
    model_class="Qwen2ForCausalLM",
    config_class="Qwen2Config",
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    bos_token=None,
    generation_eos_tokens=("<|im_end|>", "<|endoftext|>"),
    split_regex=QWEN2_SPLIT_REGEX,
    nfc=True,
    prepend_bos=False,
    # AutoTokenizer returns Qwen2Tokenizer for model_type qwen2 whatever this says; say so.
    tokenizer_class="Qwen2Tokenizer",
    chat_template=QWEN2_CHAT_TEMPLATE,
    config=MappingProxyType(
        {"rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "use_sliding_window": False}
    ),
)

LLAMA = TinyArchitecture(
    name="llama",
    model_class="LlamaForCausalLM",
    config_class="LlamaConfig",
    special_tokens=(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ),
    eos_token="<|eot_id|>",
    pad_token="<|finetune_right_pad_id|>",
    bos_token="<|begin_of_text|>",
    generation_eos_tokens=("<|eot_id|>", "<|end_of_text|>"),
    split_regex=LLAMA3_SPLIT_REGEX,
    nfc=False,
    prepend_bos=True,
    # As in Meta's own Llama 3 repos. LlamaTokenizer must never be chosen: it rebuilds a
    # SentencePiece-style (Metaspace) pipeline that mangles a byte-level BPE (Chinese text
    # encodes to nothing). transformers 5.23 already avoids it for ByteLevel tokenizer.json
    # files; the pin keeps it so for versions and tools that read this field.
    tokenizer_class="PreTrainedTokenizerFast",
    chat_template=LLAMA_CHAT_TEMPLATE,
    config=MappingProxyType(
        {"rms_norm_eps": 1e-5, "rope_theta": 500_000.0, "attention_bias": False, "mlp_bias": False}
    ),
)

#: LLaVA (a CLIP image encoder and a projector in front of the tiny Qwen2 language model,
#: with its ChatML template), as llava-onevision-qwen2 pairs them: an image prompt of one
#: token, expanded into a fixed number of patch tokens.
LLAVA = replace(
    QWEN2,
    name="llava",
    model_class="LlavaForConditionalGeneration",
    special_tokens=(*QWEN2.special_tokens, "<image>"),
    vision=TinyVision(
        config_class="LlavaConfig",
        vision_config_class="CLIPVisionConfig",
        vision_config=MappingProxyType(
            {
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 28,
                "patch_size": 14,
                "projection_dim": 32,
            }
        ),
        processor_class="LlavaProcessor",
        image_processor_class="CLIPImageProcessorPil",
        image_processor=MappingProxyType(
            {"size": {"shortest_edge": 28}, "crop_size": {"height": 28, "width": 28}}
        ),
        image_token="<image>",
        config=MappingProxyType(
            {
                "vision_feature_layer": -1,
                "vision_feature_select_strategy": "default",
                "image_seq_length": 4,  # (28 // 14) ** 2 patches, the CLS token dropped
            }
        ),
        processor=MappingProxyType(
            {
                "patch_size": 14,
                "vision_feature_select_strategy": "default",
                "num_additional_image_tokens": 1,
                "image_token": "<image>",
            }
        ),
    ),
)

#: Qwen2-VL: its own vision encoder (patches merged 2×2 into the language model's tokens)
#: and multimodal RoPE in front of the tiny Qwen2 language model, with the ChatML template.
#: Its image prompt is ``<|vision_start|><|image_pad|><|vision_end|>``, the pad token
#: repeated per merged patch; the processor sizes images by a pixel budget (56×56 here:
#: 4×4 patches of 14, so 4 image tokens). Transformers' Qwen2-VL processor also wants a
#: video processor that needs torchvision: :mod:`plugtune.sdk.backends.processors` builds
#: it without one where torchvision is missing, as here.
QWEN2_VL = replace(
    QWEN2,
    name="qwen2-vl",
    model_class="Qwen2VLForConditionalGeneration",
    config_class="Qwen2VLTextConfig",
    special_tokens=(*QWEN2.special_tokens, "<|vision_start|>", "<|vision_end|>",
                    "<|image_pad|>", "<|video_pad|>"),
    config=MappingProxyType(
        {
            "rms_norm_eps": 1e-6,
            "use_sliding_window": False,
            # head_dim 64: 32 rotary frequencies split over time, height and width
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                "mrope_section": [8, 12, 12]},
        }
    ),
    vision=TinyVision(
        config_class="Qwen2VLConfig",
        vision_config_class="Qwen2VLVisionConfig",
        vision_config=MappingProxyType(
            {
                "depth": 1,
                "embed_dim": 32,
                "hidden_size": int(COMMON_CONFIG["hidden_size"]),  # the merger's output
                "num_heads": 2,
                "mlp_ratio": 2,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
            }
        ),
        processor_class="Qwen2VLProcessor",
        image_processor_class="Qwen2VLImageProcessorPil",
        image_processor=MappingProxyType(
            {"min_pixels": 56 * 56, "max_pixels": 56 * 56, "patch_size": 14, "merge_size": 2,
             "temporal_patch_size": 2}
        ),
        image_token="<|image_pad|>",
        video_processor=MappingProxyType(
            {"video_processor_type": "Qwen2VLVideoProcessor", "min_pixels": 56 * 56,
             "max_pixels": 56 * 56, "patch_size": 14, "merge_size": 2,
             "temporal_patch_size": 2}
        ),
        token_fields=MappingProxyType(
            {"video_token_id": "<|video_pad|>", "vision_start_token_id": "<|vision_start|>",
             "vision_end_token_id": "<|vision_end|>"}
        ),
    ),
)

ARCHITECTURE_SPECS: Mapping[str, TinyArchitecture] = MappingProxyType(
    {spec.name: spec for spec in (QWEN2, LLAMA, LLAVA, QWEN2_VL)}
)


def get_architecture(name: str) -> TinyArchitecture:
    """Look an architecture up by name; unknown names raise ``ValueError`` listing the known."""
    try:
        return ARCHITECTURE_SPECS[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURE_SPECS))
        raise ValueError(
            f"unknown tiny architecture {name!r}; known architectures: {known}"
        ) from None
