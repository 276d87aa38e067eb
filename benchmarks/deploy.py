"""Deployment: GGUF export time and size per type against the merged safetensors export,
and llama.cpp's generation speed against the transformers backend on the same prompts.

All figures come from one run of this script on tiny://qwen2 (about 5M parameters) with a
random LoRA on every linear layer (its B matrices drawn, so the merge changes weights):

- export rows: ``plugtune export`` (safetensors, the baseline) and ``--format gguf`` at
  f32, f16, q8_0 and q4_k_m, each through plugtune's exporters registry, timed end to end
  (merge, convert, quantize); size is the weight file's;
- generation rows: the same prompts (alpaca_en_demo instructions, the run's chat template),
  greedy, at most 64 new tokens: the transformers backend on the merged folder (batch 16,
  and one prompt at a time), the llamacpp backend on the f32 and q4_k_m GGUF (llama.cpp
  answers one sequence at a time). "same answers": answers equal to the transformers
  backend's (f32 should give all of them).

A row during which other processes used over 10% of the machine is timed again (up to 3
tries). Figures of a 5M-parameter model are mostly per-token overheads; a real model's
relative sizes are the same (the file is weights), its speeds are not.

    python benchmarks/deploy.py [--prompts 32]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import CORES, timed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
sys.path.insert(0, str(REPO))  # tests.adapters: the random LoRA the tests use
RESULTS = REPO / "benchmarks" / "results" / "deploy.md"
DATA = REPO.parent / "shared" / "fixtures" / "llamafactory_data" / "alpaca_en_demo.json"
MODEL = "tiny://qwen2"
NEW_TOKENS = 64
QUANTS = ("f32", "f16", "q8_0", "q4_k_m")


@dataclass
class Export:
    label: str
    seconds: float
    size: int


@dataclass
class Generation:
    label: str
    tokens: int
    seconds: float
    same: int
    foreign: float


def run_config(root: Path) -> Any:
    from tests.adapters import random_lora

    from plugtune.core.config import RunConfig

    run_dir = random_lora(MODEL, root / "run", std=0.3)
    return RunConfig.model_validate({"model": {"path": MODEL}, "output": {"dir": str(run_dir)},
                                     "generation": {"max_new_tokens": NEW_TOKENS}})


def exports(config: Any, root: Path) -> tuple[list[Export], dict[str, Path]]:
    from plugtune import Session

    rows, folders = [], {}
    for name, options in [("safetensors", {}), *(("gguf", {"quant": q}) for q in QUANTS)]:
        label = name if not options else f"gguf {options['quant']}"
        target = root / label.replace(" ", "-")
        exporter = Session().build("exporters", {"name": name, **options})
        folder, seconds, _ = timed(lambda e=exporter, t=target: _fresh_export(e, config, t))
        weights = [p for p in folder.iterdir() if p.suffix in (".gguf", ".safetensors")]
        rows.append(Export(label, seconds, sum(p.stat().st_size for p in weights)))
        folders[label] = folder
    return rows, folders


def _fresh_export(exporter: Any, config: Any, target: Path) -> Path:
    import shutil

    if target.exists():
        shutil.rmtree(target)  # timed() may run the export again
    from plugtune import Session

    return exporter.export(config, Session(), adapter=None, to=target)


def prompts(count: int) -> list[Any]:
    import json

    from plugtune.core.records import Conversation, Message

    rows = json.loads(DATA.read_text(encoding="utf-8"))[:count]
    return [Conversation((Message("user", row["instruction"]),)) for row in rows]


def generations(config: Any, folders: dict[str, Path], chats: list[Any]) -> list[Generation]:
    from plugtune import Session

    def backend(name: str, path: Path, **options: Any) -> Any:
        built = config.model_copy(update={
            "model": config.model.model_copy(update={"path": str(path)}),
            "backend": {"name": name, **options}})
        session = Session()
        loaded = session.build("backends", built.backend)
        loaded.load(built, session)
        return loaded

    cases = [("transformers backend, batch 16", backend("transformers", folders["safetensors"],
                                                        batch_size=16, device="cpu"), 16),
             ("transformers backend, one at a time", backend("transformers",
                                                             folders["safetensors"],
                                                             batch_size=1, device="cpu"), 1),
             ("llamacpp backend, f32 GGUF", backend("llamacpp", folders["gguf f32"]), 1),
             ("llamacpp backend, q4_k_m GGUF", backend("llamacpp", folders["gguf q4_k_m"]), 1)]
    reference: list[str] = []
    rows = []
    for label, loaded, batch in cases:
        def answer(b: Any = loaded, size: int = batch) -> list[Any]:
            return [a for i in range(0, len(chats), size) for a in b.generate(chats[i:i + size])]

        answer()  # warm-up
        answers, seconds, foreign = timed(answer)
        reference = reference or answers
        same = sum(a == r for a, r in zip(answers, reference, strict=True))
        rows.append(Generation(label, sum(a.tokens for a in answers), seconds, same, foreign))
    return rows


def report(export_rows: list[Export], generation_rows: list[Generation], count: int) -> str:
    import torch

    from plugtune.environment import installed_version

    base = export_rows[0]
    lines = [f"# Deployment: GGUF export and llama.cpp ({datetime.date.today()})", "",
             "`python benchmarks/deploy.py`", "",
             "| export | seconds | size | x safetensors time | x safetensors size |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.label} | {r.seconds:.2f} | {r.size / 2**20:.2f} MiB | "
              f"{r.seconds / base.seconds:.2f}x | {r.size / base.size:.2f}x" + " |"
              for r in export_rows]
    first = generation_rows[0]
    lines += ["", "| generation | tokens | seconds | tokens/s | x transformers batch 16 | "
              "same answers | other load |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.label} | {r.tokens:,} | {r.seconds:.2f} | {r.tokens / r.seconds:,.0f} | "
              f"{(r.tokens / r.seconds) / (first.tokens / first.seconds):.2f}x | "
              f"{r.same}/{count} | {r.foreign:.0%} |" for r in generation_rows]
    speed = {r.label: r.tokens / r.seconds for r in generation_rows}
    single = speed["transformers backend, one at a time"]
    lines += ["", f"- llama.cpp f32 / transformers, both one sequence at a time: "
              f"**{speed['llamacpp backend, f32 GGUF'] / single:.1f}x**; q4_k_m: "
              f"**{speed['llamacpp backend, q4_k_m GGUF'] / single:.1f}x**"]
    lines += ["", f"{count} prompts (alpaca_en_demo instructions), {MODEL} with a random LoRA "
              f"merged, greedy, at most {NEW_TOKENS} new tokens. Machine: "
              f"{platform.machine()}, {CORES} cores, Python {platform.python_version()}; "
              f"torch {torch.__version__}, llama-cpp-python "
              f"{installed_version('llama-cpp-python')}, plugtune {installed_version('plugtune')}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        config = run_config(root)
        export_rows, folders = exports(config, root)
        generation_rows = generations(config, folders, prompts(args.prompts))
    text = report(export_rows, generation_rows, args.prompts)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
