"""``plugtune export --format gguf``: a run as a GGUF file for llama.cpp (and Ollama).

The steps, and why:

1. Everything checkable is checked first (quant type and its runtime, the converter,
   the target folder, the adapter, the template's Ollama form), so a mistake costs
   seconds, not a merge.
2. The adapter is merged with :func:`plugtune.deploy.export.export_model` into a
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

from plugtune.core.config import ModelConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.session import Session
from plugtune.deploy.export import ADAPTER_CONFIG, ShippedTokenizer
from plugtune.deploy.gguf import convert_lora, convert_model
from plugtune.deploy.llamacpp_source import converter_dir
from plugtune.deploy.ollama import MODELFILE, check_slots, modelfile
from plugtune.deploy.quantize import CONVERTER_TYPES, check_quant, quantize

EXPORT_RECORD = "export.json"
#: A whole model's files besides its weights and tokenizer (the tokenizer is written anew).
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json")


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
    from plugtune.deploy.export import find_adapter, run_tokenizer

    quant = check_request(request)
    trained = _whole_model(config) if adapter is None and not request.lora else None
    adapter_ref = None if trained else find_adapter(config, adapter)
    target = _check_target(config, to)
    source = ModelConfig(path=str(trained)) if trained else config.model
    shipped = run_tokenizer(config, session, source, request.keep_tokenizer_template)
    if request.ollama:
        check_slots(shipped.template)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as work:
        staging = Path(work) / "out"
        staging.mkdir()
        if request.lora:
            files = _lora_gguf(config, str(adapter_ref), staging, quant)
        else:
            model = (_staged(trained, shipped, Path(work)) if trained else
                     _merged(config, session, request, str(adapter_ref), Path(work)))
            provenance = _provenance(config, shipped.template, quant, adapter=adapter_ref,
                                     trained=trained)
            files = _model_gguf(config, request, model, Path(work), staging, shipped,
                                provenance)
        _write_record(staging, config, shipped.template, request, files,
                      {"adapter": adapter_ref, "trained_model": trained and str(trained)})
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def check_request(request: GGUFRequest) -> str:
    """The request's quant type, once all that needs no run is checked: the type and
    its runtime, the flags together, the converter. ``export_gguf`` starts with it, and
    the web UI asks it before it starts an export (and to say whether GGUF is there)."""
    quant = check_quant(request.quant)
    if request.lora and request.ollama:
        raise ConfigError("--ollama with --lora-gguf: a Modelfile needs the base model's "
                          "GGUF; export the merged model for Ollama, or write FROM/ADAPTER "
                          "by hand for your base GGUF")
    if request.lora and (quant not in CONVERTER_TYPES or quant == "bf16"):
        raise ConfigError(f"--lora-gguf: quant {quant!r}: a GGUF LoRA is f32, f16 or q8_0")
    converter_dir()
    return quant


def _whole_model(config: RunConfig) -> Path | None:
    """The model a run that trained all of it (``peft: full`` or ``freeze``) left in
    ``output.dir``, or None (a run with an adapter, or none yet)."""
    run_dir = Path(config.output.dir)
    has_model = (run_dir / "config.json").is_file() and any(run_dir.glob("*.safetensors"))
    return run_dir if has_model and not (run_dir / ADAPTER_CONFIG).is_file() else None


def _check_target(config: RunConfig, to: Path | None) -> Path:
    target = Path(to) if to is not None else Path(config.output.dir) / "gguf"
    if target.exists() and not target.is_dir():
        raise ConfigError(f"export: {target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not config.output.overwrite:
        raise ConfigError(
            f"export: {target} is not empty; choose another --to or set output.overwrite: true")
    return target


def _merged(config: RunConfig, session: Session, request: GGUFRequest, adapter: str,
            work: Path) -> Path:
    from plugtune.deploy.export import export_model

    return export_model(config, session, adapter=adapter, to=work / "merged",
                        keep_tokenizer_template=request.keep_tokenizer_template)


def _staged(trained: Path, shipped: ShippedTokenizer, work: Path) -> Path:
    """The whole-model run's weights (linked, not copied) beside its tokenizer saved
    with the run's chat template, in a folder of the staging area."""
    staged = work / "model"
    staged.mkdir()
    for path in trained.iterdir():
        if path.name in MODEL_FILES or path.suffix == ".safetensors":
            (staged / path.name).symlink_to(path.resolve())
    shipped.tokenizer.save_pretrained(staged)
    return staged


def _model_gguf(config: RunConfig, request: GGUFRequest, model: Path, work: Path,
                staging: Path, shipped: ShippedTokenizer,
                provenance: dict[str, Any]) -> list[str]:
    template = shipped.template
    metadata = {**provenance, "tokenizer.ggml.eot_token_id": shipped.stop_ids[0]}
    name = f"model-{request.quant.lower()}.gguf"
    if request.quant.lower() in CONVERTER_TYPES:
        convert_model(model, staging / name, request.quant.lower(), metadata=metadata,
                      pre_tokenizer=request.pre_tokenizer)
    else:
        full = convert_model(model, work / "model-f16.gguf", "f16", metadata=metadata,
                             pre_tokenizer=request.pre_tokenizer)
        quantize(full, staging / name, request.quant.lower())
    if request.ollama:
        text = modelfile(template, name, parameters=_ollama_parameters(config))
        (staging / MODELFILE).write_text(text, encoding="utf-8")
    return [name, MODELFILE] if request.ollama else [name]


def _lora_gguf(config: RunConfig, adapter: str, staging: Path, quant: str) -> list[str]:
    from plugtune.models.sources import resolve_model_path

    if not Path(adapter).is_dir():
        raise ConfigError(f"--lora-gguf: the adapter {adapter} is not a local folder")
    base = Path(resolve_model_path(config.model.path))
    if not base.is_dir():
        raise ConfigError(f"--lora-gguf: the base model {config.model.path} is not a local "
                          "folder (the converter reads its config.json)")
    name = f"adapter-{quant}.gguf"
    convert_lora(Path(adapter), base, staging / name, quant,
                 metadata=_provenance(config, None, quant, adapter=adapter))
    return [name]


def _provenance(config: RunConfig, template: ChatTemplate | None, quant: str, *,
                adapter: str | None = None, trained: Path | None = None) -> dict[str, Any]:
    """Where the file came from: the base model the run started from, and the adapter
    merged into it or the whole model the run trained."""
    from plugtune.environment import installed_version

    keys: dict[str, Any] = {"plugtune.version": installed_version("plugtune") or "unknown",
                            "plugtune.base_model": config.model.path, "plugtune.quant": quant}
    if adapter is not None:
        keys["plugtune.adapter"] = adapter
    if trained is not None:
        keys["plugtune.trained_model"] = str(trained)
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


def _write_record(staging: Path, config: RunConfig, template: ChatTemplate,
                  request: GGUFRequest, files: list[str], sources: dict[str, Any]) -> None:
    record = {"format": "gguf", "files": files, "base_model": config.model.path, **sources,
              "template": template.name, **asdict(request)}
    text = json.dumps(record, indent=2, ensure_ascii=False)
    (staging / EXPORT_RECORD).write_text(text + "\n", encoding="utf-8")
