"""Build a complete tiny model folder: tokenizer files, config, weights.

The folder loads with ``AutoTokenizer`` / ``AutoModelForCausalLM.from_pretrained`` like
any hub checkout, without the network. Building twice with the same seed gives
byte-identical files, so tests can pin numbers computed with these models.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from plugtune.tiny.architectures import get_architecture
from plugtune.tiny.model import create_model, save_model
from plugtune.tiny.tokenizer import save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)

#: Files every finished build contains; the cache checks them before trusting a folder.
BUILD_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def build_tiny_model(arch: str, out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build the tiny ``arch`` model into ``out_dir`` (created if missing) and return it.

    Files already in ``out_dir`` with the same names are overwritten. Use
    :func:`plugtune.tiny.tiny_model_path` to get a cached build instead.
    """
    spec = get_architecture(arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokenizer = train_tokenizer(spec)
    save_tokenizer(spec, tokenizer, out)
    if spec.vision is not None:
        from plugtune.tiny.vision import save_processor

        save_processor(spec, out)
    logger.debug("tiny://%s tokenizer trained in %.2fs", arch, time.perf_counter() - started)
    model = create_model(spec, seed)
    save_model(model, out)
    missing = [name for name in BUILD_FILES if not (out / name).is_file()]
    if missing:
        raise RuntimeError(f"tiny://{arch} build in {out} is missing {', '.join(missing)}")
    logger.info("built tiny://%s in %.2fs", arch, time.perf_counter() - started)
    return out
