"""Per-step losses of six trainers on the tiny model: the no-behaviour-change check of a
refactor.

A refactor that moves code (a compat layer, a module split) must not change what training
computes. This script trains sft, dpo, kto, orpo, grpo and ppo for a few steps each on
tiny://qwen2 with a fixed seed, one thread and every step logged, and writes the losses
each step logged (``loss`` from trainer_log.jsonl, and every other quantity the trainer
logs that training computes: gradient norm, rewards, KL; not timings) to a JSON file.
GRPO's and PPO's losses are 0.0 on their first steps by construction, so their rewards,
KL and gradient norms are what shows a change there. Run it before and after the change,
then compare: identical is the target.

    OMP_NUM_THREADS=1 python benchmarks/loss_parity.py --out before.json
    OMP_NUM_THREADS=1 python benchmarks/loss_parity.py --out after.json --compare before.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("PLUGTUNE_LOAD_PLUGINS", "")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"
STEPS = 4
# Each trainer: its data and the settings that differ from the shared ones below.
RUNS: dict[str, list[str]] = {
    "sft": [f"data.train=[{DATA / 'tiny_alpaca.jsonl'}]", "trainer=sft"],
    "dpo": [f"data.train=[{DATA / 'tiny_preference.jsonl'}]", "trainer=dpo"],
    "kto": ["trainer=kto"],  # its labelled rows are written from the pairs below
    "orpo": [f"data.train=[{DATA / 'tiny_preference.jsonl'}]", "trainer=orpo"],
    "grpo": [f"data.train=[{DATA / 'tiny_prompts.jsonl'}]",
             "trainer={name: grpo, num_generations: 4, max_completion_length: 16}",
             "rewards=[{name: accuracy}, {name: length, target: 8, weight: 0.2}]"],
    "ppo": [f"data.train=[{DATA / 'tiny_prompts.jsonl'}]",
            "trainer={name: ppo, max_new_tokens: 8, mini_batch_size: 4, num_ppo_epochs: 1}",
            "rewards=[{name: accuracy}]"],
}
SHARED = ["model.path=tiny://qwen2", "data.cutoff_len=128",
          "peft={type: lora, r: 8, alpha: 16, target: all}",
          f"training.max_steps={STEPS}", "training.logging_steps=1",
          "training.per_device_train_batch_size=4", "training.learning_rate=5e-4",
          "training.save_strategy=no", "training.seed=0", "training.report_to=[]"]


def kto_rows(folder: Path) -> Path:
    """tiny_preference.jsonl as KTO's labelled rows: each pair's chosen answer desirable,
    its rejected one not."""
    path = folder / "kto.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for line in (DATA / "tiny_preference.jsonl").read_text(encoding="utf-8").splitlines():
            pair = json.loads(line)
            for answer, label in ((pair["chosen"], True), (pair["rejected"], False)):
                row = {"prompt": pair["prompt"], "completion": answer, "label": label}
                out.write(json.dumps(row) + "\n")
    return path


#: Logged keys that measure the machine or the schedule, not what training computed.
NOT_COMPUTED = ("runtime", "per_second", "tok", "time", "step", "epoch", "learning_rate",
                "memory", "elapsed")


def losses(name: str, folder: Path) -> dict[str, list[float]]:
    """Train ``name`` in ``folder``; every computed quantity it logged, step by step."""
    from plugtune import Session, load_config
    from plugtune.training import train

    overrides = [*SHARED, *RUNS[name], f"output.dir={folder / name}"]
    if name == "kto":
        overrides.append(f"data.train=[{kto_rows(folder)}]")
    train(load_config(None, overrides), Session())
    log = (folder / name / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    series: dict[str, list[float]] = {}
    for entry in map(json.loads, log):
        for key, value in entry.items():
            if isinstance(value, float | int) and not any(part in key for part in NOT_COMPUTED):
                series.setdefault(key, []).append(value)
    return series


Series = dict[str, dict[str, list[float]]]


def compare(before: Series, after: Series) -> str:
    """A Markdown table of both runs' losses step by step, and whether every logged
    quantity of each trainer (not only its loss) matched to the last bit."""
    rows = ["| trainer | step | loss before | loss after | all logged values same |",
            "|---|---|---|---|---|"]
    for name, old in before.items():
        new = after.get(name, {})
        for step, loss in enumerate(old.get("loss", [])):
            same = all(new.get(key, [])[step:step + 1] == values[step:step + 1]
                       for key, values in old.items())
            after_loss = new.get("loss", [])[step:step + 1]
            rows.append(f"| {name} | {step + 1} | {loss} | {after_loss[0] if after_loss else None}"
                        f" | {'yes' if same else 'NO'} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the losses go (JSON)")
    parser.add_argument("--compare", type=Path, help="an earlier --out to compare against")
    parser.add_argument("--only", nargs="*", choices=list(RUNS), help="a subset of trainers")
    args = parser.parse_args()
    results: Series = {}
    with tempfile.TemporaryDirectory(prefix="loss-parity-") as tmp:
        for name in args.only or RUNS:
            results[name] = losses(name, Path(tmp))
            print(name, results[name].get("loss"), flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if args.compare:
        before = json.loads(args.compare.read_text(encoding="utf-8"))
        print(compare(before, results))
        return 0 if all(before[name] == results.get(name) for name in before) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
