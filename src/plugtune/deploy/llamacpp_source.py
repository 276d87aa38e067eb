"""Where llama.cpp's converter scripts are, and how they get there.

GGUF conversion is llama.cpp's own ``convert_hf_to_gguf.py`` (hundreds of architectures,
kept up by llama.cpp), not a rewrite. No wheel ships those scripts; the sdist of
``llama-cpp-python`` vendors them with the ``gguf-py`` they need, so plugtune pins that
sdist and unpacks just the converter from it (two megabytes: the scripts, their
``conversion`` package, ``gguf-py`` and the licence). Building the runtime is a separate,
longer step (``make llamacpp``) that conversion to f32/f16/bf16/q8_0 never needs.

Lookup order: ``$PLUGTUNE_LLAMA_CPP`` (a llama.cpp checkout, for a newer converter),
then the folder ``install`` writes inside the environment (``<prefix>/share/plugtune``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from plugtune.core.errors import PlugtuneError

#: The llama-cpp-python release whose vendored llama.cpp converts (and, built, runs) GGUF.
LLAMA_CPP_PYTHON = "0.3.36"
ENV = "PLUGTUNE_LLAMA_CPP"
SCRIPTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")
#: What is unpacked from the sdist's ``vendor/llama.cpp`` folder.
MEMBERS = (*SCRIPTS, "conversion", "gguf-py", "LICENSE")
INSTALL_HINT = (
    "install llama.cpp's converter with `make gguf-converter` (or `python -m "
    f"plugtune.deploy.llamacpp_source --install`), or point ${ENV} at a llama.cpp checkout"
)


class ConverterMissing(PlugtuneError):
    """llama.cpp's converter scripts are not installed."""


def installed_dir() -> Path:
    """The folder ``install`` writes: inside the environment, so it goes with it."""
    return Path(sys.prefix) / "share" / "plugtune" / f"llama.cpp-{LLAMA_CPP_PYTHON}"


def converter_dir() -> Path:
    """The folder holding ``convert_hf_to_gguf.py`` and its ``gguf-py``."""
    configured = os.environ.get(ENV)
    folder = Path(configured).expanduser() if configured else installed_dir()
    missing = [name for name in (*SCRIPTS, "gguf-py") if not (folder / name).exists()]
    if missing:
        where = f"${ENV}={configured}" if configured else str(folder)
        raise ConverterMissing(
            f"GGUF export needs llama.cpp's converter, and {where} lacks "
            f"{', '.join(missing)}: {INSTALL_HINT}")
    return folder


def install(target: Path | None = None) -> Path:
    """Download the pinned sdist through pip (its index and cache) and unpack the
    converter into ``target``; the folder appears whole or not at all."""
    target = target or installed_dir()
    if all((target / name).exists() for name in MEMBERS):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".llama.cpp-") as work:
        download = Path(work) / "sdist"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "--dest", str(download)],
            check=True)
        (sdist,) = download.glob("llama_cpp_python-*.tar.gz")
        staging = Path(work) / "converter"
        _unpack(sdist, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def _unpack(sdist: Path, staging: Path) -> None:
    prefix = f"{sdist.name.removesuffix('.tar.gz')}/vendor/llama.cpp/"
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            relative = member.name.removeprefix(prefix)
            if member.name.startswith(prefix) and relative.split("/")[0] in MEMBERS:
                member.name = relative
                members.append(member)
        archive.extractall(staging, members=members, filter="data")
    missing = [name for name in MEMBERS if not (staging / name).exists()]
    if missing:
        raise PlugtuneError(f"{sdist.name} has no vendor/llama.cpp/{', '.join(missing)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="llama.cpp's GGUF converter for plugtune")
    parser.add_argument("--install", action="store_true", help="download and unpack it")
    args = parser.parse_args(argv)
    if args.install:
        print(f"llama.cpp converter in {install()}")
        return 0
    try:
        print(converter_dir())
    except ConverterMissing as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
