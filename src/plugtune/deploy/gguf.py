"""Hugging Face folders to GGUF files with llama.cpp's converter, and the settings it needs.

The converter runs as a subprocess through :mod:`plugtune.deploy.gguf_driver` (see there
for why); this module decides what it is asked: the output type, the pre-tokenizer name
for a tokenizer llama.cpp has not hashed, and the header keys plugtune adds. A failed
conversion raises with the converter's last lines and leaves no output file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.deploy import gguf_driver
from plugtune.deploy.llamacpp_source import converter_dir
from plugtune.tiny.architectures import LLAMA3_SPLIT_REGEX, QWEN2_SPLIT_REGEX

#: Output types the converter writes itself (pure Python, no llama.cpp build).
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
#: llama.cpp's names for the pre-tokenization regexes it implements, for tokenizers whose
#: probe hash it does not know (a fine-tune's tokenizer with the same regex, a tiny model).
PRE_TOKENIZERS = {QWEN2_SPLIT_REGEX: "qwen2", LLAMA3_SPLIT_REGEX: "llama-bpe"}
_TAIL_LINES = 15


def pre_tokenizer_for(model_dir: Path) -> str | None:
    """llama.cpp's name for the tokenizer's pre-tokenization regex, if it is one it
    implements; None leaves the converter's own hash lookup alone."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return None
    pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    for step in [pre, *pre.get("pretokenizers", [])]:
        regex = (step.get("pattern") or {}).get("Regex") if step.get("type") == "Split" else None
        if regex in PRE_TOKENIZERS:
            return PRE_TOKENIZERS[regex]
    return None


def convert_model(model_dir: Path, outfile: Path, outtype: str, *,
                  metadata: Mapping[str, Any], pre_tokenizer: str | None = None) -> Path:
    """``model_dir`` (a merged or full model with its tokenizer) as one GGUF file."""
    pre = pre_tokenizer or pre_tokenizer_for(model_dir)
    _run("convert_hf_to_gguf.py", [str(model_dir), "--outfile", str(outfile),
                                   "--outtype", outtype], outfile, metadata, pre)
    return outfile


def convert_lora(adapter_dir: Path, base_dir: Path, outfile: Path, outtype: str, *,
                 metadata: Mapping[str, Any]) -> Path:
    """A PEFT LoRA adapter as a GGUF LoRA that llama.cpp applies to the base's GGUF."""
    _run("convert_lora_to_gguf.py", [str(adapter_dir), "--base", str(base_dir),
                                     "--outfile", str(outfile), "--outtype", outtype],
         outfile, metadata, None)
    return outfile


def _run(script: str, arguments: list[str], outfile: Path, metadata: Mapping[str, Any],
         pre_tokenizer: str | None) -> None:
    if outfile.exists():
        raise ConfigError(f"GGUF export: {outfile} exists; nothing was overwritten")
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as keys:
        json.dump(dict(metadata), keys)
        keys.flush()
        command = [sys.executable, gguf_driver.__file__, "--llama-cpp", str(converter_dir()),
                   "--script", script, "--metadata-json", keys.name]
        if pre_tokenizer:
            command += ["--pre-tokenizer", pre_tokenizer]
        result = subprocess.run([*command, "--", *arguments], capture_output=True, text=True)
    if result.returncode != 0 or not outfile.is_file():
        outfile.unlink(missing_ok=True)
        raise PlugtuneError(f"llama.cpp's {script} failed: {_reason(result.stderr)}")


def _reason(stderr: str) -> str:
    """The converter's own words: its error line if it logged one, else its last lines."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:") or line.startswith(("NotImplementedError", "ValueError")):
            return line
    return "\n".join(lines[-_TAIL_LINES:]) or "no output"
