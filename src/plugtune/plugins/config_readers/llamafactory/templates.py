"""Every chat template name LLaMA-Factory 0.9.5 registers, and what plugtune does with it.

LLaMA-Factory 0.9.5 registers 121 template names. Each is one of three outcomes
(docs/llamafactory.md lists them all, and a test keeps that list and this table equal):

- a plugtune family renders the same text (the tests render both on probe chats), with a
  default system prompt option where LLaMA-Factory's differs from the family's own, or
  with the difference said in a note;
- ``hf``, the model's own chat template, where plugtune has no family: the converted
  config carries LLaMA-Factory's format (:mod:`.template_formats`) as ``renders_as``, and
  the template refuses to start a run on the first probe chat it renders otherwise;
- refused, with the reason: templates of vision-language, audio and video models (but
  the four plugtune trains) and reasoning templates, whose empty thought blocks in every
  turn no model's own template writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugtune.plugins.config_readers.llamafactory.keys import MULTIMODAL_INSTEAD
from plugtune.plugins.config_readers.llamafactory.template_formats import FORMATS

LLAMAFACTORY_VERSION = "0.9.5"


@dataclass(frozen=True)
class Outcome:
    """A plugtune template with its options and what differs (``note``), or, with no
    template, a refusal whose ``note`` says why."""

    template: str | None
    note: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def family(template: str, note: str | None = None, **options: Any) -> Outcome:
    """Read as plugtune's ``template`` with ``options``; ``note``: what still differs."""
    return Outcome(template, note, options)


def refused(reason: str) -> Outcome:
    """Refused: ``reason`` follows the quoted name in the error."""
    return Outcome(None, reason)


#: The model's own chat template, checked against LLaMA-Factory's format at run start.
OWN_TEMPLATE = Outcome("hf")

NOTHINK_NOTE = (
    "ChatML without a default system prompt and without <think> blocks (the Qwen3 "
    "Instruct-2507 format), which is plugtune's chatml; chatml refuses tool calls, so for "
    "tool data leave the template out (the model's own template)"
)
NO_SYSTEM_NOTE = (
    "plugtune follows the model's own template, which has no system role: a system "
    "message is refused, where LLaMA-Factory writes it into the first user message"
)
MULTIMODAL = (
    "is LLaMA-Factory's template for a vision-language model, which has no plugtune "
    f"counterpart: {MULTIMODAL_INSTEAD}"
)
AUDIO = "is LLaMA-Factory's template for an audio model: plugtune reads no audio"
REASONING = (
    "is one of LLaMA-Factory's reasoning templates: it writes an empty thought block "
    "before every answer that has none, in earlier turns too, and trains it (with "
    "enable_thinking, its default); no model's own template writes that, so plugtune "
    "cannot train the same text. plugtune's thinking templates are qwen3 and deepseek-r1; "
    "for another model leave the template out to train with the model's own format"
)


def _default_system(name: str) -> str:
    return FORMATS[name].default_system


TEMPLATES: dict[str, Outcome] = {
    # ChatML families
    "qwen": family("qwen"),
    "qwen3": family("qwen3"),
    "qwen3_nothink": family("chatml", f"{NOTHINK_NOTE} (qwen3 with enable_thinking: false "
                            "differs: it writes an empty <think> block before every final "
                            "answer)"),
    "chatml": family("chatml"),
    "smollm": family("chatml"),
    **{name: family("chatml", default_system=_default_system(name))
       for name in ("smollm2", "chatml_de", "dbrx", "opencoder")},
    "lfm2": family("chatml", "chatml refuses tool calls (LFM2 writes its own); for tool "
                   "data leave the template out (the model's own template)",
                   default_system=_default_system("lfm2")),
    "intern2": family("internlm2", default_system=_default_system("intern2")),
    "yi": family("yi", "plugtune follows Yi-1.5-Chat's own template, which writes a system "
                 "message bare where LLaMA-Factory's yi wraps it in <|im_start|>system"),
    # other families
    "llama3": family("llama3"),
    "glm4": family("glm4", "LLaMA-Factory ends the last answer with the eos token "
                   "(<|endoftext|>), plugtune with <|user|>, the token glm-4-9b-chat stops "
                   "on (both train it)"),
    "chatglm3": family("chatglm3", "plugtune follows chatglm3-6b's own template, which "
                       "writes a space after each role line that LLaMA-Factory's chatglm3 "
                       "leaves out"),
    "mistral": family("mistral", NO_SYSTEM_NOTE),
    "gemma": family("gemma", NO_SYSTEM_NOTE),
    "gemma2": family("gemma", f"{NO_SYSTEM_NOTE}; and LLaMA-Factory writes the eos token "
                     "(<eos>) after the last answer and trains it, where Gemma 2's own "
                     "template ends an answer with <end_of_turn> alone"),
    "deepseekr1": family("deepseek-r1", "plugtune follows the model's own template, which "
                         "keeps only what follows </think> in answers: reasoning in the "
                         "data is not trained (LLaMA-Factory trains it)"),
    **dict.fromkeys(("phi", "phi_small"), family(
        "phi3", "plugtune follows Phi-3's own template, which writes <|endoftext|> after a "
        "chat's last turn (not trained); LLaMA-Factory writes nothing there")),
    # before 0.9.5 (LLaMA-Factory has since dropped it)
    "baichuan2": family("baichuan2"),
    # vision-language models plugtune trains: the text template, and the image prompt
    # from the model's processor and config, as LLaMA-Factory's mm_plugin writes it
    "qwen2_vl": family("qwen2"),
    "qwen3_vl": family("qwen3"),
    "qwen3_vl_nothink": family("chatml", NOTHINK_NOTE),
    "llama4": family("hf", "plugtune has no llama4 template of its own: it renders Llama "
                     "4's own chat template (template: hf), checking when the run starts "
                     "that it writes LLaMA-Factory's llama4 text and that Llama 4's "
                     "processor expands images as plugtune does"),
    # the model's own template, checked when the run starts
    **dict.fromkeys((
        "alpaca", "bailing", "bailing_v2", "breeze", "cohere", "cpm4", "deepseek",
        "deepseek3", "deepseekcoder", "default", "empty", "ernie", "ernie_nothink", "exaone",
        "falcon", "falcon_h1", "fewshot", "gemma3", "granite3", "granite4", "hunyuan",
        "hunyuan_small", "index", "llama2", "llama2_zh", "minimax1", "ministral",
        "moonlight", "olmo", "openchat", "openchat-3.6", "phi4", "phi4_mini", "sailor",
        "seed_coder", "solar", "starchat", "telechat2", "vicuna", "xuanyuan", "yuan",
        "zephyr",
    ), OWN_TEMPLATE),
    # refused
    **dict.fromkeys((
        "dots_ocr", "ernie_vl", "gemma3n", "gemma4", "gemma4n", "glm4_5v", "glm4v",
        "glm_ocr", "granite3_vision", "intern_s1", "intern_vl", "keye_vl", "kimi_vl",
        "lfm2_vl", "llava", "llava_next", "llava_next_llama3", "llava_next_mistral",
        "llava_next_qwen", "llava_next_video", "llava_next_video_mistral",
        "llava_next_video_yi", "llava_next_yi", "mimo_vl", "minicpm_o", "minicpm_v",
        "minicpm_v_4_6", "ministral3", "mistral_small", "mllama", "paligemma",
        "paligemma_chat", "pixtral", "qwen2_omni", "qwen3_5", "qwen3_5_nothink", "qwen3_6",
        "qwen3_omni", "qwen3_omni_nothink", "video_llava", "yi_vl", "youtu_vl",
    ), refused(MULTIMODAL)),
    "qwen2_audio": refused(AUDIO),
    **dict.fromkeys((
        "aeva", "glm4_7", "glm4_moe", "glmz1", "gpt_oss", "hy3", "mimo", "mimo_v2",
        "minimax2", "seed_oss", "youtu",
    ), refused(REASONING)),
}
#: The names whose images plugtune trains (LLaMA-Factory's image defaults are stated).
VISION_TEMPLATES = frozenset({"qwen2_vl", "qwen3_vl", "qwen3_vl_nothink", "llama4"})
#: plugtune templates that follow a model template without a system role.
NO_SYSTEM_ROLE = frozenset({"gemma", "mistral"})
#: Parts of a name that say a template is a vision-language model's (for names newer
#: than the table, such as moss_vl).
MULTIMODAL_HINTS = ("vl", "llava", "omni", "audio", "video")


def hf_options(name: str, default_system: str | None) -> dict[str, Any]:
    """The options of ``hf`` standing for LLaMA-Factory's template ``name``: its format to
    check (``renders_as``) and its default system prompt, or ``default_system`` (the
    config's replacement), which both then use."""
    expected = FORMATS[name]
    if default_system is not None:
        expected = expected.model_copy(update={"default_system": default_system})
    options: dict[str, Any] = {"renders_as": expected.model_dump(exclude_defaults=True)}
    if expected.default_system:
        options["default_system"] = expected.default_system
    return options
