"""LLaMA-Factory's flat YAML configs, read unchanged.

``convert_llamafactory(mapping, source=…)`` maps each key to plugtune's
:class:`~plugtune.core.config.RunConfig` (as a plain dict) and returns it with notes on
keys that change nothing in plugtune. A key plugtune cannot honour is a
:class:`ConfigError` naming the file and the key, with the reason; an unknown key gets a
did-you-mean. Where LLaMA-Factory's default differs from plugtune's (``lora_alpha`` is
twice the rank, ``cutoff_len`` 2048, gradient checkpointing on, transformers'
``learning_rate``…), the converted config states LLaMA-Factory's value, so a run does
what the same file does there. docs/llamafactory.md has the full table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ReadConfig
from plugtune.core.validation import did_you_mean
from plugtune.plugins.config_readers.llamafactory import keys
from plugtune.plugins.config_readers.llamafactory.data_keys import (
    map_data,
    map_template,
    split_list,
)
from plugtune.plugins.config_readers.llamafactory.eval_keys import EVAL_KEYS, map_eval
from plugtune.plugins.config_readers.llamafactory.image_keys import map_images
from plugtune.plugins.config_readers.llamafactory.preference_keys import map_trainer
from plugtune.plugins.config_readers.llamafactory.ray_keys import RAY, map_ray
from plugtune.plugins.config_readers.llamafactory.templates import VISION_TEMPLATES
from plugtune.plugins.config_readers.llamafactory.training_keys import (
    map_generation,
    map_training,
    training_argument_fields,
)

# Top-level keys that only a LLaMA-Factory config has.
MARKERS = frozenset({"model_name_or_path", "stage"})
LORA_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "additional_target")
FREEZE_KEYS = ("freeze_trainable_layers", "freeze_trainable_modules")
METHOD_KEYS = (*LORA_KEYS, *FREEZE_KEYS, *keys.VISION_TUNING, "use_dora", "quantization_bit",
               "quantization_type", "double_quantization", "quantization_method")


def is_llamafactory_config(mapping: Mapping[str, Any]) -> bool:
    """A top level with ``model_name_or_path`` or ``stage`` and no plugtune section
    (``template`` is a key of both)."""
    names = set(mapping)
    return bool(names & MARKERS) and not names & (set(RunConfig.model_fields) - {"template"})


def convert_llamafactory(mapping: Mapping[str, Any], *, source: str) -> ReadConfig:
    """The plugtune config a LLaMA-Factory config means; ``source`` (the file) names
    where problems are and anchors a relative ``deepspeed`` path."""
    return Conversion(mapping, source).run()


class Conversion:
    """One file's conversion: every key is used, noted or refused, never skipped."""

    def __init__(self, mapping: Mapping[str, Any], source: str) -> None:
        self.keys = dict(mapping)
        self.source = source
        self.seen: set[str] = set()
        self.problems: dict[str, list[str]] = {}  # reason -> the keys refused for it
        self.notes: list[str] = []
        self.config: dict[str, Any] = {}
        self.training = False
        self.stage = "sft"
        self.finetuning_type = "lora"

    # -- bookkeeping ------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return self.keys.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        value = self.keys.get(key)
        return default if value is None else value

    def refuse(self, key: str, reason: str) -> None:
        self.seen.add(key)
        self.problems.setdefault(reason, []).append(key)

    def note(self, key: str, text: str) -> None:
        self.seen.add(key)
        self.notes.append(f"{key}: {text}")

    def put(self, dotted: str, value: Any) -> None:
        section, _, name = dotted.partition(".")
        if name:
            self.config.setdefault(section, {})[name] = value
        else:
            self.config[section] = value

    # -- the conversion ---------------------------------------------------------------
    def run(self) -> ReadConfig:
        self.refuse_families()
        self.choose_kind()
        self.map_model()
        self.map_method()
        map_trainer(self)
        map_data(self)
        map_eval(self)
        map_template(self)
        map_images(self, multimodal=self.keys.get("template") in VISION_TEMPLATES)
        map_generation(self)
        map_training(self)
        map_ray(self)
        self.map_the_rest()
        if self.problems:
            raise ConfigError(
                f"{self.source}: this LLaMA-Factory config cannot be used as it is\n"
                + "\n".join(f"  {', '.join(names)}: {reason}"
                            for reason, names in self.problems.items())
            )
        order = list(RunConfig.model_fields)
        config = {name: self.config[name] for name in order if name in self.config}
        return ReadConfig(config=config, notes=self.notes)

    def refuse_families(self) -> None:
        for key in self.keys:
            if key in keys.MULTIMODAL:
                self.refuse(key, keys.MULTIMODAL_REASON)

    def choose_kind(self) -> None:
        """A training config (``plugtune train``) or an inference one (chat, predict)."""
        do_train = self.get("do_train", False)
        if self.get("do_predict", False):
            self.refuse("do_predict", "LLaMA-Factory writes predictions with this config; in "
                        "plugtune that is `plugtune predict` with a plugtune config")
        if self.get("do_eval", False):
            if do_train:
                self.put("training.do_eval", True)
            else:
                self.refuse("do_eval", "an evaluation-only run (the loss on eval data), "
                            "which plugtune has no command for; `plugtune predict --split "
                            "eval` with a plugtune config generates answers and scores them "
                            "(evaluation.metrics)")
        self.training = bool(do_train) or any(
            self.has(key) for key in ("stage", "dataset", "output_dir")
        )
        if self.training:
            self.stage = self.get("stage", "sft")
            if self.stage not in keys.STAGES:
                self.refuse("stage", f"unknown stage {self.stage!r}; LLaMA-Factory's stages "
                            f"are {', '.join(keys.STAGES)}")

    def map_model(self) -> None:
        path = self.get("model_name_or_path")
        if not path:
            self.refuse("model_name_or_path", "required: the model (a hub id or a folder)")
        else:
            self.put("model.path", str(path))
        adapters = split_list(self.get("adapter_name_or_path"))
        if len(adapters) > 1:
            self.refuse("adapter_name_or_path", "plugtune loads one adapter; merge the others "
                        "into the model first (`plugtune export`)")
        elif adapters:
            self.put("model.adapter", adapters[0])
        for lf_key, key in (("model_revision", "revision"), ("infer_dtype", "dtype"),
                            ("trust_remote_code", "trust_remote_code")):
            if self.has(lf_key):
                self.put(f"model.{key}", self.get(lf_key))
        self.map_attention()

    def map_attention(self) -> None:
        """``flash_attn`` (auto, disabled, sdpa, fa2, fa3) as transformers'
        ``attn_implementation``; auto leaves the choice to transformers, as LF does."""
        choice = self.get("flash_attn", "auto")
        if choice == "auto":
            return
        if choice not in keys.ATTENTION:
            self.refuse("flash_attn", f"unknown value {choice!r}; LLaMA-Factory's values "
                        f"are auto, {', '.join(keys.ATTENTION)}")
            return
        self.put("model.attention", keys.ATTENTION[choice])

    def map_method(self) -> None:
        kind = self.finetuning_type = self.get("finetuning_type", "lora")
        if kind not in ("lora", "freeze", "full"):
            reason = "plugtune has no OFT" if kind == "oft" else f"unknown type {kind!r}"
            self.refuse("finetuning_type", f"{reason}; plugtune trains lora, freeze or full")
            self.seen.update(METHOD_KEYS)  # meaningless without a method: not unknown
            return
        peft: dict[str, Any] = {"type": kind}
        if self.get("use_dora", False):
            if kind == "lora":
                peft["type"] = "dora"
            else:
                self.refuse("use_dora", "only with finetuning_type lora")
        self.map_quantization(peft)
        if kind == "lora":
            rank = self.get("lora_rank", 8)
            peft.update(r=rank, alpha=self.get("lora_alpha") or 2 * rank,
                        dropout=self.get("lora_dropout", 0.0))
            targets = split_list(self.get("lora_target", "all"))
            peft["target"] = "all" if "all" in targets else targets
            if self.has("additional_target"):
                peft["modules_to_save"] = split_list(self.get("additional_target"))
        elif kind == "freeze":
            peft["trainable_layers"] = self.get("freeze_trainable_layers", 2)
            modules = split_list(self.get("freeze_trainable_modules", "all"))
            peft["trainable_modules"] = [] if "all" in modules else modules
        peft.update({key: self.get(key) for key in keys.VISION_TUNING if self.has(key)})
        if peft.get("train_mm_proj_only") and kind != "full":
            self.refuse("train_mm_proj_only", "only with finetuning_type full: it trains "
                        "the projector alone, in full (LLaMA-Factory's rule too)")
        for other, names in (("lora", LORA_KEYS), ("freeze", FREEZE_KEYS)):
            for key in names:
                if other != kind and self.has(key):
                    self.note(key, f"only used with finetuning_type {other}; has no effect")
        if self.training or any(self.has(key) for key in (*LORA_KEYS, *FREEZE_KEYS)):
            self.put("peft", peft)

    def map_quantization(self, peft: dict[str, Any]) -> None:
        bits, method = self.get("quantization_bit"), self.get("quantization_method", "bnb")
        if method not in ("bnb", "bitsandbytes"):
            self.refuse("quantization_method", f"{method}: plugtune quantizes with "
                        "bitsandbytes only")
        extra = {"quantization_type": "quant_type", "double_quantization": "double_quant"}
        if bits is None:
            for key in extra:
                if self.has(key):
                    self.note(key, "only used with quantization_bit; has no effect")
            return
        if bits not in (4, 8):
            self.refuse("quantization_bit", "plugtune quantizes to 4 or 8 bits (bitsandbytes)")
        elif self.finetuning_type != "lora":
            self.refuse("quantization_bit", "only with finetuning_type lora")
        elif peft["type"] == "dora":
            self.refuse("use_dora", "plugtune's peft.type is dora or qlora, not both")
        else:
            peft["type"] = "qlora"
            quantization = {"bits": bits}
            for lf_key, key in extra.items():
                if self.has(lf_key):
                    quantization[key] = self.get(lf_key)
            self.put("quantization", quantization)

    def map_the_rest(self) -> None:
        """Keys no mapping above used: transformers' own, noted, refused or unknown."""
        names = set(training_argument_fields())
        known = sorted({*self.seen, *keys.UNSUPPORTED, *keys.NO_EFFECT, *names,
                        *keys.MULTIMODAL, *RAY, *EVAL_KEYS})
        for key, value in self.keys.items():
            if key in self.seen:
                continue
            if key in keys.NO_EFFECT:  # before transformers' fields: some are theirs
                self.note(key, keys.NO_EFFECT[key])
            elif key in names:
                self.put(f"training.{key}", value)
            elif key in keys.UNSUPPORTED:
                default, reason = keys.UNSUPPORTED[key]
                if value == default:
                    self.note(key, f"{value!r} is LLaMA-Factory's default; has no effect "
                              f"({reason})")
                else:
                    self.refuse(key, reason)
            else:
                self.refuse(key, "not a LLaMA-Factory or transformers setting"
                            f"{did_you_mean(key, known)}")

