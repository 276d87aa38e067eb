"""The Ray keys of a LLaMA-Factory config (part of :mod:`.llamafactory`): the ``ray`` section.

LLaMA-Factory trains under Ray Train's ``TorchTrainer`` when ``USE_RAY=1`` is in the
environment, and reads its ``ray_*`` keys only then; plugtune reads them the same way
(``use_ray: true`` in the file stands for the variable, ``use_ray: false`` overrides it).
They become plugtune's ``ray`` section, which ``plugtune train`` runs with Ray Train's
``TorchTrainer`` too. LLaMA-Factory's defaults are stated: one worker, each taking a GPU
(``resources_per_worker: {GPU: 1}``), placed ``PACK``, Ray's run in ``./saves``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion

# LLaMA-Factory key -> (ray section key, LLaMA-Factory's default).
RAY_KEYS: dict[str, tuple[str, Any]] = {
    "ray_num_workers": ("workers", 1),
    "resources_per_worker": ("resources_per_worker", {"GPU": 1}),
    "placement_strategy": ("placement_strategy", "PACK"),
    "ray_storage_path": ("storage_path", "./saves"),
    "ray_run_name": ("name", None),
    "ray_init_kwargs": ("init_kwargs", None),
}
RAY = {"use_ray", "ray_storage_filesystem", *RAY_KEYS}
STORAGE_FILESYSTEM = (
    "plugtune writes checkpoints and outputs to output_dir and Ray's run state to "
    "ray_storage_path, folders every worker must see (a shared filesystem), and uploads "
    "nothing to S3 or GCS: mount the bucket and give its path as ray_storage_path"
)


def use_ray(conv: Conversion) -> bool:
    """LLaMA-Factory's switch: ``USE_RAY`` in the environment (``1``, ``true``, ``y``)."""
    if conv.has("use_ray"):
        return bool(conv.get("use_ray"))
    return os.environ.get("USE_RAY", "0").lower() in ("1", "true", "y")


def map_ray(conv: Conversion) -> None:
    """The ``ray_*`` keys -> ``ray`` when LLaMA-Factory would train under Ray, else a
    note on each key given (it changes nothing there either)."""
    given = [key for key in (*RAY_KEYS, "ray_storage_filesystem") if conv.has(key)]
    conv.seen.update(RAY)  # null values included: LLaMA-Factory's keys, not unknown ones
    if not use_ray(conv):
        if given:
            conv.note(", ".join(given), "LLaMA-Factory reads these only with USE_RAY=1 in the "
                      "environment (not set): no effect; with USE_RAY=1 (or use_ray: true) "
                      "plugtune trains under Ray Train with them too")
        return
    if conv.get("ray_storage_filesystem") is not None:
        conv.refuse("ray_storage_filesystem", STORAGE_FILESYSTEM)
    ray: dict[str, Any] = {}
    for lf_key, (key, default) in RAY_KEYS.items():
        value = conv.get(lf_key, default)
        if isinstance(value, str) and value.startswith("{"):  # a JSON object on the CLI
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                conv.refuse(lf_key, f"not a JSON object: {error}")
                continue
        if value is not None:
            ray[key] = value
    conv.put("ray", ray)
    conv.note("ray_storage_path", "Ray keeps its run state there; checkpoints stay in "
              "output_dir, written by global rank 0 (LLaMA-Factory also reports each to Ray, "
              "which copies it to <ray_storage_path>/<ray_run_name>)")
