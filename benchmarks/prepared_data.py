"""Training start-up from a prepared folder (``data.prepared``) against encoding on the fly.

One run, the same generated SFT records (JSONL, OpenAI messages) and tiny://qwen2:

- preparation: ``plugtune data prepare`` once (records/s, folder size);
- rows: the time ``encoded_rows`` takes to hand the trainer its rows — load the records,
  resolve the template, encode (and pack) on the fly; or load the tokenizer and template,
  check the manifest and memory-map the Arrow files from the folder;
- first step: the start-up of a whole ``train`` — from the call until the first training
  step begins (validation, the rows, the model and adapter, the Trainer), which both
  variants share but for the rows.

Each figure is the best of ``--repeat`` interleaved runs; a run during which other
processes used over 10% of the machine is timed again (benchmarks/machine.py).

    python benchmarks/prepared_data.py [--records 20000] [--repeat 3] [--packing]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from machine import CORES, timed
from preprocessing import generated_conversations
from results_file import publish

from plugtune import Session, hookimpl, load_config
from plugtune.core.interfaces import TrainingRun
from plugtune.training import encoded_rows, train
from plugtune.training.rows.prepared import prepare_folder


class FirstStepClock:
    """A ``callbacks`` plugin that notes when the first training step begins."""

    def __init__(self) -> None:
        self.began: float | None = None

    @hookimpl
    def register_callbacks(self, register: Any) -> None:
        register("first_step_clock", self.callback)

    def callback(self) -> Any:
        from transformers import TrainerCallback

        clock = self

        class Clock(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                clock.began = clock.began or time.perf_counter()

        return Clock()

    def start_up(self, config: Any, session: Session) -> float:
        """Seconds from ``train(config)`` until its first step began."""
        self.began = None
        started = time.perf_counter()
        train(config, session, callbacks=["first_step_clock"])
        assert self.began is not None
        return self.began - started


def write_records(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for conversation in generated_conversations(count):
            out.write(json.dumps({"messages": conversation.to_openai()}, ensure_ascii=False))
            out.write("\n")
    return path


def config_for(folder: Path, data: Path, packing: bool, prepared: Path | None) -> Any:
    overrides = ["data.cutoff_len=512", f"data.packing={packing}",
                 f"output.dir={folder / 'run'}", "output.overwrite=true",
                 "training.max_steps=1", "training.save_strategy=no", "output.plot=false",
                 "training.per_device_train_batch_size=4"]
    source = [f"data.prepared={prepared}"] if prepared else [f"data.train=[{data}]"]
    return load_config(None, [*source, *overrides])


def rows_seconds(config: Any, session: Session, folder: Path) -> float:
    from plugtune.plugins.trainers.sft import supervised_records

    run = TrainingRun(session.validate(config), session, folder)
    _, seconds, _ = timed(lambda: encoded_rows(run, supervised_records,
                                                packing=config.data.packing))
    return seconds


def best_of(repeat: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each contender's best time over ``repeat`` rounds, run in turn within a round."""
    found: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(repeat):
        for name, measure in contenders.items():
            found[name].append(measure())
            print(f"[{round_ + 1}/{repeat}] {name}: {found[name][-1]:.2f} s", flush=True)
    return {name: min(times) for name, times in found.items()}


def measure(args: argparse.Namespace, work: Path) -> tuple[dict[str, float], dict[str, Any]]:
    clock = FirstStepClock()
    session = Session(plugins=[clock])
    data = write_records(work / "records.jsonl", args.records)
    folder = work / "prepared"
    started = time.perf_counter()
    manifest = prepare_folder(config_for(work, data, args.packing, None), session, folder)
    preparation = {"seconds": time.perf_counter() - started, "manifest": manifest,
                   "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())}
    fly = config_for(work, data, args.packing, None)
    prepared = config_for(work, data, args.packing, folder)

    def first_step(config: Any) -> float:
        return timed(lambda: clock.start_up(config, session))[0]

    times = best_of(args.repeat, {
        "rows, on the fly": lambda: rows_seconds(fly, session, work),
        "rows, prepared": lambda: rows_seconds(prepared, session, work),
        "first step, on the fly": lambda: first_step(fly),
        "first step, prepared": lambda: first_step(prepared),
    })
    return times, preparation


def report(args: argparse.Namespace, times: dict[str, float], preparation: dict[str, Any]) -> str:
    split = preparation["manifest"]["splits"]["train"]
    rows_ratio = times["rows, on the fly"] / times["rows, prepared"]
    step_ratio = times["first step, on the fly"] / times["first step, prepared"]
    lines = [
        "| measure | on the fly s | prepared s | on the fly / prepared |",
        "|---|---:|---:|---:|",
        f"| rows ready (encoded_rows) | {times['rows, on the fly']:.2f} | "
        f"{times['rows, prepared']:.2f} | **{rows_ratio:.1f}x** |",
        f"| train() until its first step | {times['first step, on the fly']:.2f} | "
        f"{times['first step, prepared']:.2f} | **{step_ratio:.2f}x** |",
        "",
        f"- preparation (plugtune data prepare, once): {split['records']:,} records in "
        f"{preparation['seconds']:.1f} s ({split['records'] / preparation['seconds']:,.0f} "
        f"records/s), {split['rows']:,} rows, {split['tokens']:,} tokens, "
        f"{preparation['bytes'] / 2**20:.1f} MiB on disk",
        f"- records: {args.records:,} generated conversations (1-4 turns, 30% with a system "
        f"prompt), cutoff_len 512, packing {args.packing}; tiny://qwen2, LoRA",
        f"- best of {args.repeat} interleaved run(s); machine: {platform.machine()}, {CORES} "
        f"cores, Python {platform.python_version()}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--packing", action="store_true")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write benchmarks/results/prepared_data.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plugtune-prepared-") as work:
        times, preparation = measure(args, Path(work))
    table = report(args, times, preparation)
    publish(table, "prepared_data", "Prepared datasets: training start-up",
            f"python benchmarks/prepared_data.py --records {args.records} --repeat "
            f"{args.repeat}{' --packing' if args.packing else ''}", write=not args.no_write)


if __name__ == "__main__":
    main()
