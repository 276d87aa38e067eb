"""Runs llama.cpp's own converter (``convert_hf_to_gguf.py`` or ``convert_lora_to_gguf.py``)
in a process of its own, with two additions plugtune needs and upstream has no flag for.

Why a separate process: the converter must import the ``gguf-py`` package that ships
beside it (the PyPI ``gguf`` lags behind it and fails on newer architectures), while the
caller's process keeps the PyPI one that transformers reads GGUF files with. This module
is run as a script, and imports nothing of plugtune's but the two patches
(:mod:`plugtune.compat.llamacpp`, which import the converter's modules only when
called, after its folders lead ``sys.path``):

    python gguf_driver.py --llama-cpp DIR --script convert_hf_to_gguf.py \\
        [--pre-tokenizer NAME] [--metadata-json FILE] -- <the converter's own arguments>

The additions:

- ``--pre-tokenizer``: llama.cpp names a BPE pre-tokenizer by the hash of a probe
  text's tokens and refuses a tokenizer it has not hashed. For a tokenizer whose
  pre-tokenization regex is known to be one of llama.cpp's (plugtune checks the regex),
  that name is used *only when* the hash is unknown; a known hash always wins.
- ``--metadata-json``: key/value pairs written into the GGUF header just before it is
  written (the end-of-turn token of the run's chat template, where the model came from,
  plugtune's version). Strings, booleans and integers (as uint32) are supported.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> None:
    args, converter_args = _parse(list(sys.argv[1:] if argv is None else argv))
    root = Path(args.llama_cpp)
    sys.path[:0] = [str(root / "gguf-py"), str(root)]
    from plugtune.compat.llamacpp import add_header_metadata, fall_back_to_pre_tokenizer

    if args.pre_tokenizer:
        fall_back_to_pre_tokenizer(args.pre_tokenizer)
    if args.metadata_json:
        add_header_metadata(json.loads(Path(args.metadata_json).read_text(encoding="utf-8")))
    script = root / args.script
    sys.argv = [str(script), *converter_args]
    runpy.run_path(str(script), run_name="__main__")


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-cpp", required=True, help="folder with the converter scripts")
    parser.add_argument("--script", required=True, help="the converter script to run")
    parser.add_argument("--pre-tokenizer", help="pre-tokenizer name for an unknown hash")
    parser.add_argument("--metadata-json", help="JSON object of header keys to add")
    split = argv.index("--") if "--" in argv else len(argv)
    return parser.parse_args(argv[:split]), argv[split + 1:]


if __name__ == "__main__":
    main()
