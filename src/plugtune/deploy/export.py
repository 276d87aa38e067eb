"""Merge a LoRA adapter into its base model and save a model that stands on its own.

Why each step is the way it is:

- The base loads in full precision, never quantized: LoRA deltas merged into 4-bit
  weights would mostly round away. A quantized export is made afterwards, by reloading
  the merged weights through bitsandbytes and saving those.
- Weights are safetensors shards with an index, so a large model loads shard by shard
  wherever it is served; the adapter is merged in place (no second copy of the model).
- The tokenizer travels with the chat template the run trained with, and the generation
  config stops on the template's end-of-turn tokens: a served model whose template or
  stop tokens differ from training keeps talking past its turn. A template plugin that
  writes its own Jinja (a slot family) ships that; otherwise the tokenizer's own template
  is checked against the run's by rendering probe conversations, not trusted.
- A vision-language model's processor files (``processor_config.json`` …) travel with
  the weights, so the exported folder loads as the VLM it is and takes images.
- ``export.json`` records what was merged, so an exported folder traces back to its run.
"""

from __future__ import annotations

import gc
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugtune.core.config import ModelConfig, QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.interfaces import ChatTemplate, WritesJinja
from plugtune.core.records import Conversation, Message
from plugtune.core.session import Session
from plugtune.models.adapters import ADAPTER_CONFIG, run_adapter

log = logging.getLogger(__name__)

EXPORT_RECORD = "export.json"
#: Weight files an earlier export may have left; a stale ``model.safetensors`` would be
#: loaded instead of the new shards. Only these are removed, never an adapter's files.
STALE_WEIGHTS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
)
#: Prompts (ending with a user turn) with and without a system message, one turn and
#: several; each is rendered with and without the generation prompt.
_PROBES = (
    (Message("user", "Hi"),),
    (Message("system", "Be brief."), Message("user", "Hi")),
    (Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "How are you?")),
)


def export_model(
    config: RunConfig,
    session: Session,
    *,
    adapter: str | Path | None = None,
    to: str | Path | None = None,
    max_shard_size: int | str = "2GB",
    quantize: int | None = None,
    keep_tokenizer_template: bool = False,
) -> Path:
    """Merge the run's adapter into ``config.model`` and save the result; return the folder.

    Everything that can be wrong with the request (adapter, target, shard size, template)
    is checked before the model loads, so a mistake costs seconds, not a merge.
    """
    adapter_ref = find_adapter(config, adapter)
    target = _check_target(config, to, adapter_ref)
    shard_size = _check_shard_size(max_shard_size)
    quantization = export_quantization(config, quantize)
    shipped = run_tokenizer(config, session, config.model, keep_tokenizer_template)

    _clear_target(target)
    if quantization is None:
        _merge(config, adapter_ref, target, shipped.stop_ids, shard_size)
    else:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as full:
            _merge(config, adapter_ref, Path(full), shipped.stop_ids, shard_size)
            _quantize(config, quantization, Path(full), target, shard_size)
    shipped.tokenizer.save_pretrained(target)
    _write_record(target, config, adapter_ref, shipped, quantization)
    log.info("exported %s + %s to %s", config.model.path, adapter_ref, target)
    return target


@dataclass
class ShippedTokenizer:
    """The tokenizer an exported model ships, carrying the chat template the run trained
    with; ``template_written``: the template plugin's own Jinja (else the tokenizer's,
    checked); ``mismatch``: how the kept tokenizer template differs, if it was kept anyway."""

    tokenizer: Any
    template: ChatTemplate
    stop_ids: list[int]
    template_written: bool
    mismatch: str | None


def run_tokenizer(config: RunConfig, session: Session, model: ModelConfig,
                  keep_tokenizer_template: bool = False) -> ShippedTokenizer:
    """``model``'s tokenizer with the run's chat template: the template plugin's Jinja, or
    the tokenizer's own once probe prompts render alike (else a :class:`ConfigError`,
    unless ``keep_tokenizer_template``); the stop ids are the template's end of turn."""
    from plugtune.data.templates import resolve_template, stop_token_ids
    from plugtune.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(model)
    template = resolve_template(session, config.template, tokenizer)
    jinja = run_chat_template(template, tokenizer)
    if jinja is not None:  # the run's own template travels with the model
        tokenizer.chat_template = jinja
    mismatch = template_mismatch(template, tokenizer)
    if mismatch is not None and not keep_tokenizer_template:
        raise ConfigError(
            f"export: the run trained with template {template.name!r} but the tokenizer's "
            f"chat_template renders differently ({mismatch}); served with it, the model would "
            "be prompted in a format it was not trained on. Set template: auto, or pass "
            "--keep-tokenizer-template to export the tokenizer's template anyway"
        )
    if mismatch is not None:
        log.warning("keeping the tokenizer's chat_template although %s", mismatch)
    return ShippedTokenizer(tokenizer, template, stop_token_ids(template, tokenizer),
                            jinja is not None, mismatch)


def find_adapter(config: RunConfig, adapter: str | Path | None = None) -> str:
    """The adapter to merge: :func:`plugtune.models.adapters.run_adapter`'s choice (the
    one ``plugtune train`` left in ``output.dir`` by default); an error when there is none."""
    found = run_adapter(config, adapter)
    if found is None:
        raise ConfigError(
            f"export: no adapter to merge: no --adapter given, output.dir "
            f"({config.output.dir}) has no {ADAPTER_CONFIG} (plugtune train writes one "
            "there), and model.adapter is not set"
        )
    return found


def _check_target(config: RunConfig, to: str | Path | None, adapter: str) -> Path:
    target = Path(to) if to is not None else Path(config.output.dir) / "merged"
    if target.exists() and not target.is_dir():
        raise ConfigError(f"export: {target} is a file, not a folder")
    if Path(adapter).is_dir() and target.resolve() == Path(adapter).resolve():
        raise ConfigError(f"export: {target} is the adapter's own folder; choose another --to")
    if target.is_dir() and any(target.iterdir()) and not config.output.overwrite:
        raise ConfigError(
            f"export: {target} is not empty; choose another --to or set output.overwrite: true"
        )
    return target


def _clear_target(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for pattern in STALE_WEIGHTS:
        for stale in target.glob(pattern):
            stale.unlink()


def _check_shard_size(size: int | str) -> int | str:
    from transformers.utils.hub import convert_file_size_to_int

    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    try:
        valid = convert_file_size_to_int(size) > 0
    except (ValueError, AttributeError):
        valid = False
    if not valid:
        raise ConfigError(f"--max-shard-size {size!r}: expected a size such as 2GB, 500MB or 1GiB")
    return size


def export_quantization(config: RunConfig, quantize: int | None) -> QuantizationConfig | None:
    """``None`` unless ``quantize`` asks for bits; the config's ``quantization`` section
    (what QLoRA trained with) supplies the other settings. Without ``quantize`` the export
    is full precision even after QLoRA: the merge is what the adapter learned."""
    if quantize is None:
        return None
    if quantize not in (4, 8):
        raise ConfigError(f"--quantize {quantize!r}: expected 4 or 8 (bits)")
    fields = config.quantization.model_dump(exclude_unset=True) if config.quantization else {}
    return QuantizationConfig.model_validate({**fields, "bits": quantize})


def run_chat_template(template: ChatTemplate, tokenizer: Any) -> str | None:
    """The Jinja the exported tokenizer carries: the template's own, or, for a family
    that writes none but was given a ``default_system``, the tokenizer's own with that
    default in front (checked like any kept template, by :func:`template_mismatch`);
    None: the tokenizer's template is kept as it is."""
    from plugtune.sdk.templates.default_system import default_system_jinja

    jinja = template.jinja() if isinstance(template, WritesJinja) else None
    default_system = getattr(template, "default_system", None)
    own = getattr(tokenizer, "chat_template", None)
    if jinja is None and default_system is not None and isinstance(own, str) and own:
        return default_system_jinja(default_system) + own
    return jinja


def template_mismatch(template: ChatTemplate, tokenizer: Any) -> str | None:
    """Why the tokenizer's chat_template would not render what ``template`` trained on,
    or ``None`` when both render every probe prompt identically."""
    from plugtune.sdk.templates.jinja import template_messages

    if not getattr(tokenizer, "chat_template", None):
        return "the tokenizer has no chat_template"
    for messages in _PROBES:
        conversation = Conversation(messages)
        for prompt in (False, True):
            try:
                expected = template.render(conversation, add_generation_prompt=prompt)
            except PlugtuneError:
                continue  # the template refuses this prompt, so the run never trained on one
            probe = f"{' / '.join(m.role for m in messages)}, generation prompt {prompt}"
            try:
                rendered = tokenizer.apply_chat_template(
                    template_messages(conversation), tokenize=False, add_generation_prompt=prompt
                )
            except Exception as error:  # any Jinja error: the tokenizer cannot serve this prompt
                return f"{probe}: the tokenizer's chat_template fails: {error}"
            if rendered != expected:
                return f"{probe}: {_first_difference(expected, rendered)}"
    return None


def _first_difference(expected: str, rendered: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(expected, rendered, strict=False)) if a != b),
        min(len(expected), len(rendered)),
    )
    start = max(0, at - 20)
    return (
        f"the template renders {expected[start : at + 40]!r}, "
        f"the tokenizer {rendered[start : at + 40]!r}"
    )


def _merge(
    config: RunConfig, adapter: str, out: Path, stop_ids: list[int], shard_size: int | str
) -> None:
    """Load the full-precision base, merge the adapter in place and save the result
    (with the base's processor files when it is a vision-language model)."""
    from peft import PeftModel

    from plugtune.models import load_causal_lm
    from plugtune.models.sources import resolve_model_path
    from plugtune.sdk.backends.vision import load_image_processor, save_processor_files

    base = load_causal_lm(config.model)  # never quantized: see the module docstring
    try:
        model = PeftModel.from_pretrained(base, adapter)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ConfigError(
            f"export: cannot apply adapter {adapter} to {config.model.path}: {error}"
        ) from None
    peft_config = model.active_peft_config
    if peft_config.is_prompt_learning or not hasattr(model, "merge_and_unload"):
        raise ConfigError(f"export: a {peft_config.peft_type} adapter cannot be merged")
    merged = model.merge_and_unload()
    set_stop_token_ids(merged, stop_ids)
    merged.save_pretrained(out, max_shard_size=shard_size)
    processor = load_image_processor(resolve_model_path(config.model.path))
    if processor is not None:
        save_processor_files(processor, out)
    del base, model, merged
    gc.collect()


def _quantize(
    config: RunConfig,
    quantization: QuantizationConfig,
    source: Path,
    target: Path,
    shard_size: int | str,
) -> None:
    """Reload the merged weights through bitsandbytes and save them quantized (the
    processor files of a vision-language model carried along)."""
    import shutil

    from plugtune.models import load_causal_lm
    from plugtune.sdk.backends.vision import PROCESSOR_FILES

    merged = config.model.model_copy(update={"path": str(source), "revision": None})
    model = load_causal_lm(merged, quantization)
    model.save_pretrained(target, max_shard_size=shard_size)
    for name in PROCESSOR_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def set_stop_token_ids(model: Any, stop_ids: list[int]) -> None:
    """Make the model's generation config stop on the template's end-of-turn tokens too
    (kept first), keeping any eos ids it already had."""
    generation = model.generation_config
    existing = generation.eos_token_id
    existing = [] if existing is None else [existing] if isinstance(existing, int) else existing
    generation.eos_token_id = [*stop_ids, *(i for i in existing if i not in stop_ids)]


def _write_record(target: Path, config: RunConfig, adapter: str, shipped: ShippedTokenizer,
                  quantization: QuantizationConfig | None) -> None:
    from plugtune.environment import installed_version

    record = {
        "base_model": config.model.path,
        "revision": config.model.revision,
        "adapter": adapter,
        "dtype": config.model.dtype,
        "shards": sorted(path.name for path in target.glob("*.safetensors")),
        "quantization": quantization.model_dump() if quantization else None,
        "template": shipped.template.name,
        # the chat template saved: the template plugin's own Jinja, or the tokenizer's
        "chat_template": "template" if shipped.template_written else "tokenizer",
        "tokenizer_template_matches": shipped.mismatch is None,
        "eos_token_id": shipped.stop_ids,
        "plugtune_version": installed_version("plugtune"),
    }
    text = json.dumps(record, indent=2, ensure_ascii=False)
    (target / EXPORT_RECORD).write_text(text + "\n", encoding="utf-8")
