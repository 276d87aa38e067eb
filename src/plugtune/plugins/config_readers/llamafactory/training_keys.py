"""The output, training, decoding and backend keys of a LLaMA-Factory config.

Part of :mod:`.llamafactory`. A ``transformers.TrainingArguments`` field keeps its name
under ``training``; the fields are read from transformers' own source, on first use only
(importing ``TrainingArguments`` imports torch: seconds, for a command that prints YAML).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.core.config import TrainingConfig
from plugtune.plugins.config_readers.llamafactory import keys

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion

GENERATION_KEYS = (*keys.GENERATION_DEFAULTS, "max_length")
# Same meaning, another name in transformers 5.
RENAMED = {"evaluation_strategy": "eval_strategy", "enable_liger_kernel": "use_liger_kernel"}


@functools.cache
def training_argument_fields() -> dict[str, Any]:
    """``transformers.TrainingArguments``' fields and their defaults, read from the
    class's source without importing it. A default that is not a literal reads as None
    (``optim``'s, chosen from the torch version when transformers is imported): a
    conversion uses the names, and the defaults of the fields plugtune states."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("reading a LLaMA-Factory config needs transformers' "
                                  "TrainingArguments: pip install 'plugtune[train]'")
    source = Path(spec.submodule_search_locations[0], "training_args.py").read_text("utf-8")
    body = next(node.body for node in ast.parse(source).body
                if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments")
    fields: dict[str, Any] = {}
    for statement in body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            declared = _declared_default(statement.value)
            if declared is not _NOT_INIT:
                fields[statement.target.id] = declared
    return fields


_NOT_INIT = object()  # a dataclass field with init=False: not an argument


def _declared_default(value: ast.expr | None) -> Any:
    """The default of ``name: type = value`` in a dataclass: a literal, ``field(default=…)``
    or ``field(default_factory=<builtin>)``; None when there is none or it is computed."""
    is_field = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
        and value.func.id == "field"
    if not is_field:
        return _literal(value)
    given = {keyword.arg: keyword.value for keyword in value.keywords}
    init = given.get("init")
    if isinstance(init, ast.Constant) and init.value is False:
        return _NOT_INIT
    factory = given.get("default_factory")
    if isinstance(factory, ast.Name) and factory.id in ("list", "dict", "set", "tuple"):
        return getattr(builtins, factory.id)()
    return _literal(given.get("default"))


def _literal(value: ast.expr | None) -> Any:
    try:
        return None if value is None else ast.literal_eval(value)
    except ValueError:  # a name or a call: known only when transformers runs
        return None


def map_generation(conv: Conversion) -> None:
    """Decoding, with LLaMA-Factory's sampling defaults where a config generates (an
    inference config, stage ppo) or sets any decoding key."""
    map_backend(conv)
    if not any(conv.has(key) for key in GENERATION_KEYS) and conv.training \
            and conv.stage != "ppo":
        return
    values = {key: conv.get(key, value) for key, value in keys.GENERATION_DEFAULTS.items()}
    if values["max_new_tokens"] <= 0:
        conv.refuse("max_new_tokens", "must be positive: plugtune limits the answer, not the "
                    "prompt and the answer together (max_length)")
    elif conv.has("max_length"):
        conv.note("max_length", "max_new_tokens is set, which LLaMA-Factory then uses "
                  "instead; has no effect")
    conv.put("generation", {
        "max_new_tokens": values["max_new_tokens"],
        "temperature": values["temperature"] if values["do_sample"] else 0.0,
        "top_p": values["top_p"],
        "top_k": values["top_k"],
        "repetition_penalty": values["repetition_penalty"],
    })


def map_backend(conv: Conversion) -> None:
    engine = conv.get("infer_backend", None if conv.training else "huggingface")
    name = keys.BACKENDS.get(str(engine).lower()) if engine is not None else None
    if engine is not None and name is None:
        conv.refuse("infer_backend", f"{engine!r}: plugtune's backends are transformers "
                    "(huggingface) and vllm")
    options: dict[str, Any] = {}
    for key in (*keys.VLLM_OPTIONS, "vllm_config"):
        if not conv.has(key):
            continue
        value = conv.get(key)
        if name != "vllm":
            conv.note(key, "only used with infer_backend vllm; has no effect")
        elif key != "vllm_config":
            options[keys.VLLM_OPTIONS[key]] = value
        else:
            engine_args = json.loads(value) if isinstance(value, str) else value
            if isinstance(engine_args, dict):
                options.update(engine_args)
            else:
                conv.refuse(key, "expected a mapping of vLLM engine arguments")
    if name is not None:
        conv.put("backend", {"name": name, **options} if options else name)


def map_training(conv: Conversion) -> None:
    map_output(conv)
    map_schedule(conv)
    deepspeed = conv.get("deepspeed")
    if isinstance(deepspeed, str) and not Path(deepspeed).is_absolute():
        beside = Path(conv.source).parent / deepspeed
        deepspeed = str(beside) if beside.is_file() else deepspeed
    if deepspeed is not None:
        conv.put("training.deepspeed", deepspeed)
    if conv.has("seed"):  # LLaMA-Factory's data split and shuffle use the training seed
        conv.put("training.seed", conv.get("seed"))
        conv.put("data.seed", conv.get("seed"))
    for old, new in RENAMED.items():
        if conv.has(old):
            conv.put(f"training.{new}", conv.get(old))
    if conv.has("evaluation_strategy"):
        conv.note("evaluation_strategy", "transformers now calls it eval_strategy")
    if conv.get("disable_shuffling", False):
        conv.put("training.train_sampling_strategy", "sequential")
    if conv.has("early_stopping_steps"):
        patience = conv.get("early_stopping_steps")
        conv.put("callbacks", [{"name": "early_stopping", "patience": patience}])
    if conv.training:
        map_defaults(conv)


def map_output(conv: Conversion) -> None:
    if conv.has("output_dir"):
        conv.put("output.dir", str(conv.get("output_dir")))
    elif conv.training:
        conv.note("output_dir", "not set: plugtune writes the run to out")
    overwrite = bool(conv.get("overwrite_output_dir", False))
    if conv.has("overwrite_output_dir"):
        conv.put("output.overwrite", overwrite)
    if conv.training or conv.has("plot_loss"):
        conv.put("output.plot", bool(conv.get("plot_loss", False)))
    resume = conv.get("resume_from_checkpoint")
    if resume:
        conv.put("training.resume_from_checkpoint", str(resume))
    elif conv.training and not overwrite and not (
        conv.stage in ("rm", "ppo") and conv.finetuning_type in ("freeze", "full")
    ):
        conv.put("training.resume_from_checkpoint", "auto")
        conv.note("resume_from_checkpoint", "not set and overwrite_output_dir is not true: "
                  "LLaMA-Factory then resumes from the last checkpoint in output_dir, so "
                  "plugtune resumes too (auto)")


def map_schedule(conv: Conversion) -> None:
    """Warm-up and gradient checkpointing, which LLaMA-Factory spells its own way."""
    ratio, steps = conv.get("warmup_ratio", 0.0), conv.get("warmup_steps")
    if ratio and not steps:
        if 0 < ratio < 1:  # transformers 5 reads a warmup_steps below 1 as a ratio
            conv.put("training.warmup_steps", ratio)
        else:
            conv.refuse("warmup_ratio", "must be between 0 and 1")
    elif steps is not None:
        conv.put("training.warmup_steps", steps)
        if ratio:
            conv.note("warmup_ratio", "warmup_steps is set as well and wins; has no effect")
    disable = conv.get("disable_gradient_checkpointing", False)
    if conv.has("gradient_checkpointing"):
        if conv.has("disable_gradient_checkpointing"):
            conv.note("disable_gradient_checkpointing",
                      "gradient_checkpointing is set as well and wins; has no effect")
    elif conv.training or conv.has("disable_gradient_checkpointing"):
        conv.put("training.gradient_checkpointing", not disable)  # on unless disabled
    if conv.has("use_reentrant_gc"):
        reentrant = bool(conv.get("use_reentrant_gc"))
        conv.put("training.gradient_checkpointing_kwargs", {"use_reentrant": reentrant})


def map_defaults(conv: Conversion) -> None:
    """transformers' defaults where plugtune states other ones (learning_rate,
    logging_steps): a LLaMA-Factory run gets transformers' values."""
    given = conv.config.get("training", {})
    defaults = training_argument_fields()
    for name, info in TrainingConfig.model_fields.items():
        if name in given or conv.has(name) or name not in defaults:
            continue
        default = defaults[name]
        if name == "gradient_checkpointing" or default is None or default == info.default:
            continue
        if isinstance(default, float) and default.is_integer() and isinstance(info.default, int):
            default = int(default)
        conv.put(f"training.{name}", default)
    has_eval = conv.has("eval_dataset") or conv.get("val_size", 0) > 0
    if has_eval and not (conv.has("eval_strategy") or conv.has("evaluation_strategy")):
        conv.note("eval_strategy", "not set: LLaMA-Factory (transformers' default 'no') "
                  "evaluates only after training, with do_eval; plugtune evaluates every "
                  "epoch: set training.eval_strategy to choose")
