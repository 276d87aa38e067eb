"""Agentic GRPO on a real model: does multi-turn GRPO with a calculator teach
SmolLM2-135M-Instruct to use it, and does that beat learning the task without tools?

    python benchmarks/agentic_grpo.py                       # everything, ~1 h on 2 cores
    python benchmarks/agentic_grpo.py --warmup out/agent_warmup_smollm2   # reuse a warm start

Task: held-out three-digit by two-digit multiplications ("What is 566 * 56? Answer
with the number only.", ``examples/data/agentic/``), scored by exact match of the final
answer, through the commands a user runs (``plugtune train`` / ``plugtune predict`` with
the example configs). Measured in this run, on the same 100 held-out questions:

- the base model without tools, and with the calculator offered (it never calls it);
- **before RL**: after the short SFT warm start (``agent_warmup_smollm2.yaml``: the
  tool-call format on four-digit sums and differences; multiplications only ever
  answered directly), with the calculator — the model the target is measured from;
- **agentic GRPO** (``agent_grpo_smollm2.yaml``): from the warm start, episodes with
  the calculator, the ``accuracy`` reward on the whole final answer (the number only);
- **the no-tool baseline**: the same GRPO run (same warm start, steps, rewards) with
  the ``agent`` section removed, answered without tools.

Each row gives held-out exact match and the share of held-out episodes that called the
tool; the training rows their wall time and the per-step reward and tool calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from real_learning import CONFIGS, plugtune, trained
from results_file import publish

WARMUP, GRPO = CONFIGS / "agent_warmup_smollm2.yaml", CONFIGS / "agent_grpo_smollm2.yaml"
NO_TOOLS = "agent=null"


def held_out(work: Path, name: str, limit: int, *, adapter: Path | None,
             tools: bool) -> tuple[float, float]:
    """Exact match and the share of episodes that called a tool, on the first ``limit``
    held-out questions."""
    out = work / "predict" / name / "p.jsonl"
    sets = [f"output.dir={out.parent}", *([] if tools else [NO_TOOLS]),
            *([f"model.adapter={adapter}"] if adapter is not None else [])]
    plugtune("predict", str(GRPO), *(x for value in sets for x in ("--set", value)),
             *(["--base"] if adapter is None else []), "--limit", str(limit),
             "--overwrite", "--out", str(out))
    scores = json.loads((out.parent / "predict_results.json").read_text())["metrics"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    called = sum(1 for row in rows if row.get("episode", {}).get("tool_calls"))
    return scores["exact_match"], called / len(rows)


def curve(log: list[dict], key: str) -> str:
    values = [entry[key] for entry in log if key in entry]
    return " ".join(f"{value:.2f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=Path, help="reuse this warm-start adapter folder")
    parser.add_argument("--steps", type=int, default=16, help="GRPO steps, both runs")
    parser.add_argument("--held-out", type=int, default=100, help="held-out questions asked")
    parser.add_argument("--no-base", action="store_true",
                        help="leave out the two base-model rows (context, not the target)")
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temp folder)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python benchmarks/agentic_grpo.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="agentic-grpo-") as folder:
        work = args.work or Path(folder)
        n, steps = args.held_out, f"training.max_steps={args.steps}"
        rows: list[tuple[str, tuple[float, float], str]] = []

        def measured(name: str, scores: tuple[float, float], cost: str = "") -> None:
            rows.append((name, scores, cost))
            print(f"{name}: exact match {scores[0]:.2f}, tool calls {scores[1]:.2f} {cost}",
                  flush=True)

        if not args.no_base:
            measured("base model, no tools",
                     held_out(work, "base", n, adapter=None, tools=False))
            measured("base model, calculator offered",
                     held_out(work, "base-tools", n, adapter=None, tools=True))
        warmup, cost = args.warmup, ""
        if warmup is not None:
            runtime = json.loads((warmup / "all_results.json").read_text())["train_runtime"]
            cost = f"{runtime:.0f} s SFT (an earlier run's)"
        else:
            warmup = work / "warmup"
            cost = f"{plugtune('train', str(WARMUP), '--set', f'output.dir={warmup}'):.0f} s SFT"
        measured("**before RL**: SFT warm start, calculator offered",
                 held_out(work, "warmup", n, adapter=warmup, tools=True), cost)
        seconds, tool_log = trained(GRPO, work / "grpo", f"model.adapter={warmup}", steps)
        measured("**agentic GRPO**, calculator",
                 held_out(work, "grpo", n, adapter=work / "grpo", tools=True),
                 f"{seconds:.0f} s, {args.steps} steps")
        seconds, plain_log = trained(GRPO, work / "plain", f"model.adapter={warmup}", steps,
                                     NO_TOOLS)
        measured("no-tool GRPO baseline (same warm start and steps)",
                 held_out(work, "plain", n, adapter=work / "plain", tools=False),
                 f"{seconds:.0f} s, {args.steps} steps")
    table = [f"| model ({args.held_out} held-out questions) | exact match | episodes calling "
             "the tool | training |", "|---|---|---|---|"]
    table += [f"| {name} | {exact:.2f} | {called:.2f} | {cost} |"
              for name, (exact, called), cost in rows]
    table += ["", "Per logged step (every 2 steps):", "",
              f"- agentic GRPO reward: {curve(tool_log, 'reward')}",
              f"- agentic GRPO tool calls per episode: {curve(tool_log, 'episodes/tool_calls')}",
              f"- agentic GRPO parse failures per episode: "
              f"{curve(tool_log, 'episodes/parse_failures')}",
              f"- no-tool GRPO reward: {curve(plain_log, 'reward')}", "",
              f"Torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')} (2 CPU cores)"]
    publish("\n".join(table), "agentic_grpo",
            "Agentic GRPO on SmolLM2-135M-Instruct: a calculator for multiplication",
            command.strip(), write=not args.no_write)


if __name__ == "__main__":
    main()
