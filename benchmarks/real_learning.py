"""Real learning, measured: what each trainer family does to a real model.

    python benchmarks/real_learning.py                   # sft, pt, grpo
    python benchmarks/real_learning.py --families sft

The model is SmolLM2-135M-Instruct (``packaged://smollm2-135m-instruct``). Every number
is measured in this run, before and after training, on held-out sets never trained on,
through the same commands a user runs (``plugtune train`` / ``plugtune predict`` with
the example configs), so the baseline is the base model answering the same questions:

- sft (``examples/configs/quickstart.yaml``, for three epochs): held-out two-digit
  additions, exact match (the base model explains or adds wrongly: 0.00), and 40
  held-out general questions scored by ``contains`` (the answer mentions the fact): the
  tuned model must stay within a few points of the base model there (no collapse);
- pt (``examples/configs/pt_smollm2.yaml``): perplexity on held-out docs of a domain
  corpus (plugtune's own guides), from the trainer's eval before step 1 and after;
- grpo (``examples/configs/grpo_smollm2.yaml``), from the base model with the built-in
  ``accuracy`` reward and a reward from a file: held-out exact match and reward.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from results_file import publish

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "examples" / "configs"
DATA = "examples/data/real"
ADDITIONS = [f"data.test=[{DATA}/addition_heldout.jsonl]", "evaluation.metrics=[exact_match]"]
GENERAL = [f"data.test=[{DATA}/general_heldout.jsonl]", "evaluation.metrics=[contains]",
           "generation.max_new_tokens=48"]


def plugtune(*args: str) -> float:
    """Run ``plugtune ARGS`` from the repository; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "plugtune", *args], cwd=REPO, check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def predicted(config: Path, out: Path, sets: list[str], *, base: bool) -> dict[str, float]:
    """Predict a held-out set with the base model or the trained adapter; its metrics."""
    overrides = [item for pair in zip(["--set"] * len(sets), sets, strict=True) for item in pair]
    plugtune("predict", str(config), *overrides, "--set", f"output.dir={out.parent}",
             *(["--base"] if base else []), "--overwrite", "--out", str(out))
    return json.loads((out.parent / "predict_results.json").read_text())["metrics"]


def trained(config: Path, run: Path, *overrides: str) -> tuple[float, list[dict]]:
    """Train ``config`` into ``run``; the wall time and the trainer's log entries."""
    sets = [item for value in overrides for item in ("--set", value)]
    seconds = plugtune("train", str(config), "--set", f"output.dir={run}", *sets)
    log = (run / "trainer_log.jsonl").read_text().splitlines()
    return seconds, [json.loads(line) for line in log]


def before_after(config: Path, run: Path, sets: list[str]) -> tuple[float, float]:
    """Score ``sets`` with the base model into ``run``'s sibling, then with the adapter."""
    before = predicted(config, run.parent / f"{run.name}-base" / "p.jsonl", sets, base=True)
    after = predicted(config, run / "p.jsonl", sets, base=False)
    return next(iter(before.values())), next(iter(after.values()))


def sft(work: Path, epochs: int = 3) -> list[str]:
    """The quickstart's recipe for ``epochs`` epochs (the quickstart itself runs one)."""
    config, run = CONFIGS / "quickstart.yaml", work / "sft"
    seconds, log = trained(config, run, f"training.num_train_epochs={epochs}")
    tokens = max(entry.get("tokens", 0) for entry in log)
    add_before, add_after = before_after(config, run, ADDITIONS)
    gen_before, gen_after = before_after(config, run, GENERAL)
    return [
        f"| sft, {epochs} epochs | held-out additions, exact match | {add_before:.2f} | "
        f"**{add_after:.2f}** "
        f"| {seconds:.0f} s train, {tokens / seconds:.0f} tok/s |",
        f"| sft, {epochs} epochs | general questions (no collapse), contains | "
        f"{gen_before:.2f} | "
        f"**{gen_after:.2f}** | same run |",
    ]


def pt(work: Path) -> list[str]:
    seconds, log = trained(CONFIGS / "pt_smollm2.yaml", work / "pt")
    losses = [entry["eval_loss"] for entry in log if "eval_loss" in entry]
    return [f"| pt | held-out docs, perplexity | {math.exp(losses[0]):.2f} | "
            f"**{math.exp(losses[-1]):.2f}** | {seconds:.0f} s train |"]


def reward_accuracy(predictions: Path) -> float:
    """The run's own ``accuracy`` reward on greedy held-out answers (the answer's last
    number against the sum), averaged: what GRPO was rewarded for, on prompts it never saw."""
    from plugtune import Session

    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    reward = Session().build("rewards", "accuracy")
    scores = reward(prompts=[row["prompt"] for row in rows],
                    completions=[row["predict"] for row in rows],
                    answer=[row["label"] for row in rows])
    return sum(scores) / len(scores)


def grpo(work: Path) -> list[str]:
    config, run = CONFIGS / "grpo_smollm2.yaml", work / "grpo"
    seconds, log = trained(config, run)
    rewards = [entry["reward"] for entry in log if "reward" in entry]
    base, tuned = run.parent / "grpo-base" / "p.jsonl", run / "p.jsonl"
    exact = predicted(config, base, ADDITIONS, base=True), predicted(
        config, tuned, ADDITIONS, base=False)
    before, after = (next(iter(scores.values())) for scores in exact)
    return [
        f"| grpo | held-out additions, accuracy reward (last number) | "
        f"{reward_accuracy(base):.2f} | **{reward_accuracy(tuned):.2f}** | {seconds:.0f} s "
        f"train; training reward {rewards[0]:.2f} -> {rewards[-1]:.2f} |",
        f"| grpo | held-out additions, exact match | {before:.2f} | {after:.2f} | same run |",
    ]


FAMILIES: dict[str, Callable[..., list[str]]] = {"sft": sft, "pt": pt, "grpo": grpo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated, of {', '.join(FAMILIES)}")
    parser.add_argument("--sft-epochs", type=int, default=3,
                        help="epochs of the quickstart's recipe (the quickstart runs 1)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    header = ["| family | held-out measure | base model | trained | cost |",
              "|---|---|---|---|---|"]
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    command = "python benchmarks/real_learning.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="real-learning-") as work:
        for family in args.families.split(","):
            options = {"epochs": args.sft_epochs} if family == "sft" else {}
            rows = FAMILIES[family](Path(work), **options)
            publish("\n".join([*header, *rows]) + f"\n\nTorch threads: {threads} (2 CPU cores)",
                    f"real_learning_{family}", f"Real learning on SmolLM2-135M-Instruct: {family}",
                    f"{command.strip()} (this family: --families {family})",
                    write=not args.no_write)


if __name__ == "__main__":
    main()
