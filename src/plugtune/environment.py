"""What ``plugtune env`` reports: versions of the stack, extras, and compute devices.

Versions and extras come from installed package metadata, so nothing heavy is imported;
only :func:`devices` imports torch.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from packaging.requirements import Requirement

STACK = (
    "plugtune", "torch", "transformers", "tokenizers", "peft", "trl", "accelerate",
    "datasets", "bitsandbytes", "deepspeed", "vllm", "llama-cpp-python", "gguf", "chromadb",
    "sentence-transformers", "evaluate", "pluggy", "pydantic", "click",
)


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def stack_versions() -> dict[str, str | None]:
    """Python, the platform and each library of the stack (``None``: not installed)."""
    versions: dict[str, str | None] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    versions.update({name: installed_version(name) for name in STACK})
    return versions


def extras() -> dict[str, dict[str, bool]]:
    """For each optional extra of plugtune, which of its packages are installed."""
    requirements = metadata.requires("plugtune") or []
    found: dict[str, dict[str, bool]] = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is None:
            continue
        for extra in metadata.metadata("plugtune").get_all("Provides-Extra") or []:
            if requirement.marker.evaluate({"extra": extra}):
                installed = installed_version(requirement.name) is not None
                found.setdefault(extra, {})[requirement.name] = installed
    return found


def devices() -> dict[str, Any]:
    """Accelerators torch can see (imports torch)."""
    import torch

    report: dict[str, Any] = {"cpu_threads": torch.get_num_threads()}
    report["cuda"] = [
        torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())
    ]
    mps = getattr(torch.backends, "mps", None)
    report["mps"] = bool(mps and mps.is_available())
    return report
