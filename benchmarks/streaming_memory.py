"""Bounded memory: preparing corpora in chunks, and training start-up three ways.

One run, generated data, tiny://qwen2:

- preparation: ``plugtune data prepare`` of a pretraining text corpus (a folder of .txt
  files, trainer pt, 1,024-token blocks) and of an SFT set (JSON Lines, OpenAI messages,
  cutoff_len 1,024), each at a base size and at ``--factor`` times it, every one in a
  fresh process whose peak RSS is measured: records/s, peak RSS, and the ratio of the
  peak RSS at the large size to that at the base size (target: <= 1.2);
- the baseline: the same SFT set encoded into lists (``plugtune data stats``, which
  holds every encoded row, as a run without ``data.prepared`` or ``data.streaming``
  does before its first step), at the base size;
- training start-up on the base SFT set: ``train()`` until its first step, encoding on
  the fly, from the prepared folder, and with ``data.streaming``.

Defaults are the issue's sizes (a 2 GB corpus and 2M SFT records, against 200 MB and
200k); ``--scale 0.1`` runs them at a tenth.

    python benchmarks/streaming_memory.py [--scale 1.0] [--factor 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from machine import CORES, timed
from prepared_data import FirstStepClock, best_of, config_for
from preprocessing import generated_conversations
from results_file import publish

from plugtune import Session

TEXT_MB = 200
SFT_RECORDS = 200_000
#: Distinct lines the generated data repeats (generating every line would take longer
#: than preparing it); enough that batches are not all alike.
POOL = 4096
#: Lines written at a time (about 1 MB of text).
CHUNK_LINES = 2000
WORDS = ["the", "model", "learns", "a", "low", "rank", "adapter", "for", "each", "layer",
         "streaming", "records", "arrow", "tokens", "模型", "学习", "数据", "内存"]
#: A fresh interpreter that runs the command as its child and prints the child's peak RSS.
MEASURE = ("import resource, subprocess, sys; "
           "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "sys.stderr.write(done.stderr[-3000:] if done.returncode else ''); "
           "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def write_text_corpus(folder: Path, megabytes: float) -> int:
    """Text files of 64 MB (the last shorter) of generated lines; how many lines."""
    rng = random.Random(0)
    pool = [" ".join(rng.choices(WORDS, k=rng.randint(40, 160))) for _ in range(POOL)]
    folder.mkdir(parents=True)
    budget, written, lines, part = int(megabytes * 2**20), 0, 0, 0
    while written < budget:
        chunk = "\n".join(rng.choices(pool, k=CHUNK_LINES)) + "\n"
        path = folder / f"part{part:04d}.txt"
        with path.open("a", encoding="utf-8") as out:
            out.write(chunk)
        written += len(chunk.encode("utf-8"))
        lines += CHUNK_LINES
        part += path.stat().st_size >= 64 * 2**20
    return lines


def write_sft_set(path: Path, records: int) -> None:
    """``records`` OpenAI-messages conversations, drawn from a pool of generated ones."""
    rng = random.Random(0)
    pool = [json.dumps({"messages": c.to_openai()}, ensure_ascii=False)
            for c in generated_conversations(POOL)]
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, records, CHUNK_LINES):
            out.write("\n".join(rng.choices(pool, k=min(CHUNK_LINES, records - start))) + "\n")


def measured(command: list[str]) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of ``command`` in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "1000"})
    seconds = time.perf_counter() - started
    code, rss = done.stdout.split()[-2:]
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return int(rss) / 1024, seconds


def prepare(work: Path, name: str, data: str) -> dict[str, Any]:
    """``plugtune data prepare`` of one config: peak RSS, seconds, records, folder size."""
    config = work / f"{name}.yaml"
    config.write_text(data, encoding="utf-8")
    folder = work / f"{name}_rows"
    rss, seconds = measured([sys.executable, "-m", "plugtune", "data", "prepare", str(config),
                             "--out", str(folder)])
    split = json.loads((folder / "manifest.json").read_text())["splits"]["train"]
    print(f"{name}: {split['records']:,} records, {rss:,.0f} MiB, {seconds:.1f} s", flush=True)
    return {"rss": rss, "seconds": seconds, "records": split["records"],
            "tokens": split["tokens"], "folder": folder,
            "input": sum(p.stat().st_size for p in (work / name).rglob("*") if p.is_file())}


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sizes = {"base": args.scale, "large": args.scale * args.factor}
    found: dict[str, Any] = {}
    for size, scale in sizes.items():
        write_text_corpus(work / f"text_{size}", TEXT_MB * scale)
        found[f"text_{size}"] = prepare(work, f"text_{size}", (
            f"data: {{train: [{work / f'text_{size}'}], cutoff_len: 1024}}\n"
            "trainer: {name: pt, block_size: 1024}\n"))
        (work / f"sft_{size}").mkdir()
        data = work / f"sft_{size}" / "records.jsonl"
        write_sft_set(data, int(SFT_RECORDS * scale))
        found[f"sft_{size}"] = prepare(work, f"sft_{size}",
                                       f"data: {{train: [{data}], cutoff_len: 1024}}\n")
        if size == "large":  # the disk holds one large corpus (and its rows) at a time
            for name in ("text_large", "text_large_rows", "sft_large", "sft_large_rows"):
                shutil.rmtree(work / name)
    base = work / "sft_base" / "records.jsonl"
    lists = work / "lists.yaml"
    lists.write_text(f"data: {{train: [{base}], cutoff_len: 1024}}\n", encoding="utf-8")
    found["lists"] = measured([sys.executable, "-m", "plugtune", "data", "stats",
                               str(lists), "--json"])
    found["start"] = start_up(args, work, base, found["sft_base"]["folder"])
    return found


def start_up(args: argparse.Namespace, work: Path, data: Path, folder: Path) -> dict[str, float]:
    """Seconds until the first training step: on the fly, prepared, streamed."""
    clock = FirstStepClock()
    session = Session(plugins=[clock])
    fly = config_for(work, data, False, None)
    fly.data.cutoff_len = 1024
    prepared = config_for(work, data, False, folder)
    prepared.data.cutoff_len = 1024
    streamed = fly.model_copy(deep=True)
    streamed.data.streaming = True

    def first_step(config: Any) -> float:
        return timed(lambda: clock.start_up(config, session))[0]

    return best_of(args.repeat, {"on the fly": lambda: first_step(fly),
                                 "prepared": lambda: first_step(prepared),
                                 "streaming": lambda: first_step(streamed)})


def report(args: argparse.Namespace, found: dict[str, Any]) -> str:
    lines = ["| prepare | input | records | records/s | peak RSS MiB | large / base RSS |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind, label in (("text", "text corpus (pt)"), ("sft", "SFT set (sft)")):
        base, large = found[f"{kind}_base"], found[f"{kind}_large"]
        for size, row in (("base", base), ("large", large)):
            ratio = f"**{large['rss'] / base['rss']:.2f}x**" if size == "large" else ""
            lines.append(f"| {label}, {size} | {row['input'] / 2**20:,.0f} MB | "
                         f"{row['records']:,} | {row['records'] / row['seconds']:,.0f} | "
                         f"{row['rss']:,.0f} | {ratio} |")
    lists_rss, lists_seconds = found["lists"]
    sft = found["sft_base"]
    start = found["start"]
    lines += [
        "",
        "| baseline: the base SFT set | peak RSS MiB | lists / prepare |",
        "|---|---:|---:|",
        f"| encoded into lists (plugtune data stats, {lists_seconds:.0f} s) | "
        f"{lists_rss:,.0f} | **{lists_rss / sft['rss']:.2f}x** |",
        f"| plugtune data prepare ({sft['seconds']:.0f} s) | {sft['rss']:,.0f} | |",
        "",
        "| train() until its first step, base SFT set | s | on the fly / this |",
        "|---|---:|---:|",
        *(f"| {name} | {seconds:.2f} | **{start['on the fly'] / seconds:.1f}x** |"
          for name, seconds in start.items()),
        "",
        f"- sizes: base = {TEXT_MB * args.scale:,.0f} MB of text and "
        f"{int(SFT_RECORDS * args.scale):,} SFT records, large = {args.factor:g}x; "
        "records/s and RSS are whole `plugtune data prepare` processes (start-up included)",
        "- generated data: text lines of 40-160 words, conversations of 1-4 turns (30% with "
        "a system prompt), each drawn from a pool of 4,096; tiny://qwen2; start-up: LoRA, "
        "batch 4, best of " f"{args.repeat} run(s)",
        f"- machine: {platform.machine()}, {CORES} cores, Python {platform.python_version()}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="base sizes: 200 MB of text and 200k SFT records, times this")
    parser.add_argument("--factor", type=float, default=10.0, help="large size / base size")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-write", action="store_true",
                        help="do not write benchmarks/results/streaming_memory.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plugtune-streaming-") as work:
        found = measure(args, Path(work))
    publish(report(args, found), "streaming_memory", "Bounded memory: prepare and start-up",
            f"python benchmarks/streaming_memory.py --scale {args.scale:g} --factor "
            f"{args.factor:g} --repeat {args.repeat}", write=not args.no_write)


if __name__ == "__main__":
    main()
