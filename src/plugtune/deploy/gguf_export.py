"""``plugtune export --format gguf``: a run as a GGUF file for llama.cpp (and Ollama).

The steps, and why:

1. Everything checkable is checked first (quant type and its runtime, the converter,
   the target folder, the adapter, the template's Ollama form), so a mistake costs
   seconds, not a merge.
2. The adapter is merged with :func:`plugtune.training.export.export_model` into a
   staging folder: the same merge, tokenizer and chat template as a safetensors export,
   so the GGUF carries exactly the template the run trained with.
3. llama.cpp's converter writes the GGUF (f32/f16/bf16/q8_0 itself; other types are
   quantized from an f16 file by llama.cpp's quantizer). Its header gets the template's
   end-of-turn token as ``tokenizer.ggml.eot_token_id`` (llama.cpp and Ollama stop on
   it) and ``plugtune.*`` keys saying where the model came from.
4. With ``lora``, the adapter alone becomes a GGUF LoRA for a base model's GGUF.
5. Staging happens beside the target; the target appears only when every file is
   written, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.session import Session
from plugtune.deploy.gguf import convert_lora, convert_model
from plugtune.deploy.llamacpp_source import converter_dir
from plugtune.deploy.ollama import MODELFILE, check_slots, modelfile
from plugtune.deploy.quantize import CONVERTER_TYPES, check_quant, quantize

EXPORT_RECORD = "export.json"


@dataclass(frozen=True)
class GGUFRequest:
    """What to write: the GGUF type, the adapter alone (``lora``), an Ollama Modelfile."""

    quant: str = "f16"
    lora: bool = False
    ollama: bool = False
    pre_tokenizer: str | None = None
    keep_tokenizer_template: bool = False


def export_gguf(config: RunConfig, session: Session, request: GGUFRequest, *,
                adapter: str | None = None, to: Path | None = None) -> Path:
    """Write the run's model (or its adapter) as GGUF into ``to``; return the folder."""
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.training.export import find_adapter

    quant = check_quant(request.quant)
    if request.lora and request.ollama:
        raise ConfigError("--ollama with --lora-gguf: a Modelfile needs the base model's "
                          "GGUF; export the merged model for Ollama, or write FROM/ADAPTER "
                          "by hand for your base GGUF")
    converter_dir()
    adapter_ref = find_adapter(config, adapter)
    target = _check_target(config, to)
    template = resolve_template(session, config.template, load_tokenizer(config.model))
    if request.ollama:
        check_slots(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as work:
        staging = Path(work) / "out"
        staging.mkdir()
        if request.lora:
            files = _lora_gguf(config, adapter_ref, staging, quant)
        else:
            files = _model_gguf(config, session, request, adapter_ref, Path(work), staging,
                                template)
        _write_record(staging, config, adapter_ref, template, request, files)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def _check_target(config: RunConfig, to: Path | None) -> Path:
    target = Path(to) if to is not None else Path(config.output.dir) / "gguf"
    if target.exists() and not target.is_dir():
        raise ConfigError(f"export: {target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not config.output.overwrite:
        raise ConfigError(
            f"export: {target} is not empty; choose another --to or set output.overwrite: true")
    return target


def _model_gguf(config: RunConfig, session: Session, request: GGUFRequest, adapter: str,
                work: Path, staging: Path, template: ChatTemplate) -> list[str]:
    from transformers import AutoTokenizer

    from plugtune.data.templates import stop_token_ids
    from plugtune.training.export import export_model

    merged = export_model(config, session, adapter=adapter, to=work / "merged",
                          keep_tokenizer_template=request.keep_tokenizer_template)
    stop_ids = stop_token_ids(template, AutoTokenizer.from_pretrained(merged))
    metadata = {**_provenance(config, adapter, template, request.quant),
                "tokenizer.ggml.eot_token_id": stop_ids[0]}
    name = f"model-{request.quant.lower()}.gguf"
    if request.quant.lower() in CONVERTER_TYPES:
        convert_model(merged, staging / name, request.quant.lower(), metadata=metadata,
                      pre_tokenizer=request.pre_tokenizer)
    else:
        full = convert_model(merged, work / "model-f16.gguf", "f16", metadata=metadata,
                             pre_tokenizer=request.pre_tokenizer)
        quantize(full, staging / name, request.quant.lower())
    if request.ollama:
        text = modelfile(template, name, parameters=_ollama_parameters(config))
        (staging / MODELFILE).write_text(text, encoding="utf-8")
    return [name, MODELFILE] if request.ollama else [name]


def _lora_gguf(config: RunConfig, adapter: str, staging: Path, quant: str) -> list[str]:
    from plugtune.tiny import resolve_model_path

    if quant not in CONVERTER_TYPES or quant == "bf16":
        raise ConfigError(f"--lora-gguf: quant {quant!r}: a GGUF LoRA is f32, f16 or q8_0")
    if not Path(adapter).is_dir():
        raise ConfigError(f"--lora-gguf: the adapter {adapter} is not a local folder")
    base = Path(resolve_model_path(config.model.path))
    if not base.is_dir():
        raise ConfigError(f"--lora-gguf: the base model {config.model.path} is not a local "
                          "folder (the converter reads its config.json)")
    name = f"adapter-{quant}.gguf"
    convert_lora(Path(adapter), base, staging / name, quant,
                 metadata=_provenance(config, adapter, None, quant))
    return [name]


def _provenance(config: RunConfig, adapter: str, template: ChatTemplate | None,
                quant: str) -> dict[str, Any]:
    from plugtune.environment import installed_version

    keys = {"plugtune.version": installed_version("plugtune") or "unknown",
            "plugtune.base_model": config.model.path, "plugtune.adapter": adapter,
            "plugtune.quant": quant}
    if template is not None:
        keys["plugtune.template"] = template.name
    return keys


def _ollama_parameters(config: RunConfig) -> list[tuple[str, Any]]:
    """The run's ``generation`` defaults, under Ollama's parameter names."""
    generation = config.generation
    pairs: list[tuple[str, Any]] = [
        ("temperature", generation.temperature), ("top_p", generation.top_p),
        ("num_predict", generation.max_new_tokens)]
    if generation.top_k:
        pairs.append(("top_k", generation.top_k))
    if generation.repetition_penalty != 1.0:
        pairs.append(("repeat_penalty", generation.repetition_penalty))
    return pairs + [("stop", stop) for stop in generation.stop]


def _write_record(staging: Path, config: RunConfig, adapter: str, template: ChatTemplate,
                  request: GGUFRequest, files: list[str]) -> None:
    record = {"format": "gguf", "files": files, "base_model": config.model.path,
              "adapter": adapter, "template": template.name, **asdict(request)}
    text = json.dumps(record, indent=2, ensure_ascii=False)
    (staging / EXPORT_RECORD).write_text(text + "\n", encoding="utf-8")
