"""Which parts of a vision-language model train: its vision tower, its projector, or both.

A VLM is an image encoder (the vision tower: CLIP in LLaVA), a multi-modal projector that
maps the encoder's features into the language model's embedding space, and the language
model. Every ``peft`` method takes the options below; they change nothing for a text
model. The defaults are LLaMA-Factory's (``freeze_vision_tower: true``,
``freeze_multi_modal_projector: true``, ``train_mm_proj_only: false``): only the
language model trains, because a released VLM's encoder and projector are already
aligned and a small SFT set would mostly disturb them. A part that is not frozen trains
the way the method trains the language model: adapters on its linear layers (lora, dora,
qlora: where ``target`` matches), every weight (full), or in full beside the chosen
layers (freeze). ``train_mm_proj_only`` trains the projector alone, everything else
frozen (LLaVA's first stage, aligning a new encoder); like LLaMA-Factory, full only.

The parts are found by the names transformers gives them (``vision_tower``, ``visual``,
``vision_model``; ``multi_modal_projector``, ``merger``, ``mm_projector``), so a
family that names them otherwise is a text model to these options, and asking to train
a part a model lacks is an error rather than a silent no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from plugtune.core.errors import ConfigError

TOWER_NAMES = ("vision_tower", "visual", "vision_model")
PROJECTOR_NAMES = ("multi_modal_projector", "merger", "mm_projector")


class VisionTuningOptions(BaseModel):
    """The vision-language options every ``peft`` method takes (see the module doc)."""

    freeze_vision_tower: bool = Field(
        True, description="VLMs: keep the image encoder as it is (LLaMA-Factory's default)."
    )
    freeze_multi_modal_projector: bool = Field(
        True, description="VLMs: keep the projector between image encoder and language "
        "model as it is (LLaMA-Factory's default).",
    )
    train_mm_proj_only: bool = Field(
        False, description="VLMs: train the projector alone, all else frozen (full only)."
    )


@dataclass(frozen=True)
class VisionParts:
    """The module names of a model's vision tower and projector (None: it has none).
    The projector may sit inside the tower (Qwen2-VL's ``visual.merger``)."""

    tower: str | None
    projector: str | None

    def frozen(self, name: str, options: VisionTuningOptions) -> bool:
        """Whether the module or parameter ``name`` stays frozen under ``options``."""
        in_projector = _under(name, self.projector)
        if options.train_mm_proj_only:
            return not in_projector
        if in_projector:
            return options.freeze_multi_modal_projector
        return _under(name, self.tower) and options.freeze_vision_tower

    def contains(self, name: str) -> bool:
        """Whether the module or parameter ``name`` lies in the tower or the projector."""
        return _under(name, self.tower) or _under(name, self.projector)

    def trained(self, name: str, options: VisionTuningOptions) -> bool:
        """Whether ``name`` lies in a part these options train (a part not frozen)."""
        return self.contains(name) and not self.frozen(name, options)


def _under(name: str, prefix: str | None) -> bool:
    return prefix is not None and (name == prefix or name.startswith(f"{prefix}."))


def vision_parts(model: Any, options: VisionTuningOptions, method: str, *,
                 trains_in_full: bool = False) -> VisionParts:
    """The parts of ``model`` (not yet wrapped by PEFT), checked against ``options`` for
    the ``method`` (``peft.type``, named in errors): a part asked to train must exist, and
    ``train_mm_proj_only`` is for a method that trains the weights in full
    (``trains_in_full``) only."""
    names = [name for name, _ in model.named_modules()]
    parts = VisionParts(
        tower=next((n for n in names if n.rsplit(".", 1)[-1] in TOWER_NAMES), None),
        projector=next((n for n in names if n.rsplit(".", 1)[-1] in PROJECTOR_NAMES), None),
    )
    if options.train_mm_proj_only and not trains_in_full:
        raise ConfigError(
            f"peft.train_mm_proj_only: trains the projector in full; peft.type {method!r} "
            "cannot (use peft.type full, as LLaMA-Factory requires)"
        )
    wanted = {
        "freeze_vision_tower": (not options.freeze_vision_tower, parts.tower, "vision tower"),
        "freeze_multi_modal_projector": (
            not options.freeze_multi_modal_projector, parts.projector, "projector"),
        "train_mm_proj_only": (options.train_mm_proj_only, parts.projector, "projector"),
    }
    for key, (asked, found, part) in wanted.items():
        if asked and found is None:
            raise ConfigError(
                f"peft.{key}: the model has no {part} (a text model, or a family whose "
                f"parts plugtune does not know: {', '.join(TOWER_NAMES + PROJECTOR_NAMES)})"
            )
    return parts


def frozen_modules_pattern(parts: VisionParts, options: VisionTuningOptions) -> str | None:
    """A regular expression (PEFT's ``exclude_modules``) matching every module of a
    frozen part, so no adapter lands there; None when nothing is frozen."""
    if options.train_mm_proj_only:  # refused for adapters by vision_parts
        return None
    frozen = []
    projector = re.escape(parts.projector) if parts.projector else None
    if projector and options.freeze_multi_modal_projector:
        frozen.append(rf"{projector}(?:\..*)?")
    if parts.tower and options.freeze_vision_tower:
        # a projector inside the tower that trains is spared (Qwen2-VL's visual.merger)
        trains = projector is not None and not options.freeze_multi_modal_projector
        spare = rf"(?!{projector}(?:\.|$))" if trains else ""
        frozen.append(rf"{spare}{re.escape(parts.tower)}(?:\..*)?")
    return "|".join(f"(?:{alternative})" for alternative in frozen) or None


def freeze_parts(model: Any, parts: VisionParts, options: VisionTuningOptions) -> None:
    """Set ``requires_grad`` off on every parameter of a frozen part (full fine-tuning)."""
    for name, parameter in model.named_parameters():
        if parts.frozen(name, options):
            parameter.requires_grad = False
