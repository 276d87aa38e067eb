"""A ``.gguf`` file as a model folder: dequantized once, cached by the file's digest.

Trainers, backends, export and the tokenizer all take a folder of safetensors weights,
so a GGUF file (a llama.cpp model, or one shipped inside a package) is turned into one:
transformers' GGUF loader dequantizes it to float32, and the weights, config, generation
settings, tokenizer and chat template (from the file's header) are saved to
``<cache root>/gguf/<stem>-<digest>``. The digest keys the folder, so a changed file is
converted again and an unchanged one only read once per process.

transformers refuses to ``save_pretrained`` a GGUF-loaded model (it counts as
quantized), so the loaded weights are copied into a model built from the same config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from plugtune.core.errors import ConfigError
from plugtune.folder_cache import build_once, cache_root

log = logging.getLogger(__name__)

#: Written last: a folder without it is an interrupted conversion.
SOURCE_RECORD = "plugtune_gguf_source.json"
FOLDER_FILES = ("config.json", "model.safetensors", "tokenizer_config.json", SOURCE_RECORD)

_digests: dict[tuple[str, int, int], str] = {}


def is_gguf_path(ref: str) -> bool:
    return ref.lower().endswith(".gguf")


def file_digest(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def gguf_model_folder(path: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The cached model folder of the GGUF file ``path``, converted on first use."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise ConfigError(f"model.path: GGUF file {str(path)!r} does not exist")
    digest = file_digest(source)
    target = cache_root(cache_dir) / "gguf" / f"{source.stem}-{digest[:16]}"
    return build_once(target, FOLDER_FILES, lambda staging: _convert(source, digest, staging))


def _convert(source: Path, digest: str, out: Path) -> None:
    import torch
    import transformers

    log.info("dequantizing %s into plugtune's cache (once per file)", source)
    folder, name = str(source.parent), source.name
    try:
        config = transformers.AutoConfig.from_pretrained(folder, gguf_file=name)
        loaded = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except ImportError as error:
        raise ConfigError(f"model.path: reading {source} needs the gguf package "
                          f"(pip install 'plugtune[deploy]'): {error}") from None
    except (ValueError, NotImplementedError, KeyError, TypeError) as error:
        # e.g. "GGUF model with architecture … is not supported yet", an unknown quant type
        raise ConfigError(
            f"model.path: transformers {transformers.__version__} cannot read the GGUF "
            f"file {source}: {error}") from None
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"gguf_file": str(source), "sha256": digest,
              "transformers": transformers.__version__}
    (out / SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
