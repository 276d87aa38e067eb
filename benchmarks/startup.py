"""Start-up cost of the CLI: the commands a newcomer runs first, against bare Python.

Every figure comes from this run. Each command runs once to warm the caches, then
``--repeat`` times, the commands taking turns (one round runs each once), so a change in
the machine's load falls on all of them alike; the table shows the median and the fastest
wall time, the median as a multiple of ``python -c pass`` (the floor) and of
``plugtune --help`` (which loads every plugin: the least any command can cost), and the
share of the machine other processes used during the command's runs. The last row,
importing the training stack, is what a command that imported it eagerly would pay.
Targets: ``plugins list`` under 0.5 s; ``config show`` and ``config convert`` under 1 s.

The LLaMA-Factory YAML is LLaMA-Factory's own example (the shared fixtures, as the tests
find them: ``PLUGTUNE_FIXTURES``, else ``../shared/fixtures``); without it those rows are
left out.

    python benchmarks/startup.py [--repeat 9] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import children_cpu, cpu_seconds, foreign_share, wait_until_idle
from results_file import publish

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("PLUGTUNE_FIXTURES") or REPO.parent / "shared" / "fixtures")
LLAMAFACTORY_YAML = FIXTURES / "llamafactory_examples" / "train_lora" / "qwen3_lora_sft.yaml"
PLUGTUNE = [sys.executable, "-m", "plugtune"]
FLOOR, BASELINE = "python -c pass", "plugtune --help"
TARGETS = {"plugtune plugins list": 0.5, "plugtune config show (plugtune YAML)": 1.0,
           "plugtune config show (LLaMA-Factory YAML)": 1.0, "plugtune config convert": 1.0}


def commands() -> dict[str, list[str]]:
    """What is timed, by the name the table shows."""
    timed = {
        FLOOR: [sys.executable, "-c", "pass"],
        BASELINE: [*PLUGTUNE, "--help"],
        "plugtune plugins list": [*PLUGTUNE, "plugins", "list"],
        "plugtune plugins list --json": [*PLUGTUNE, "plugins", "list", "--json"],
        "plugtune config show (plugtune YAML)":
            [*PLUGTUNE, "config", "show", "examples/configs/dpo.yaml"],
    }
    if LLAMAFACTORY_YAML.is_file():
        timed["plugtune config show (LLaMA-Factory YAML)"] = \
            [*PLUGTUNE, "config", "show", str(LLAMAFACTORY_YAML)]
        timed["plugtune config convert"] = [*PLUGTUNE, "config", "convert", str(LLAMAFACTORY_YAML)]
    else:
        print(f"{LLAMAFACTORY_YAML} is not there: the LLaMA-Factory rows are left out")
    timed["import transformers, trl, peft"] = \
        [sys.executable, "-c", "import transformers, trl, peft"]
    return timed


def measure(timed: dict[str, list[str]], repeat: int) -> dict[str, tuple[list[float], float]]:
    """Each command's wall times and the share of the machine other processes used while
    it ran, the commands taking turns."""
    # As installed: bytecode is cached by the warm-up run (a shell with
    # PYTHONDONTWRITEBYTECODE would otherwise time recompiling every module, every run).
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONDONTWRITEBYTECODE"}
    environment["HF_HUB_OFFLINE"] = "1"

    def run(command: list[str]) -> None:
        subprocess.run(command, check=True, capture_output=True, env=environment, cwd=REPO)

    for command in timed.values():
        run(command)  # warm caches
    walls: dict[str, list[float]] = {name: [] for name in timed}
    busy = {name: [0.0, 0.0] for name in timed}  # machine's busy s, the command's own s
    for _ in range(repeat):
        for name, command in timed.items():
            machine, own, started = cpu_seconds(), children_cpu(), time.perf_counter()
            run(command)
            walls[name].append(time.perf_counter() - started)
            if machine is not None:
                busy[name][0] += cpu_seconds() - machine  # type: ignore[operator]
            busy[name][1] += children_cpu() - own
    return {name: (walls[name], foreign_share(0.0, busy[name][0], busy[name][1],
                                              sum(walls[name])))
            for name in timed}


def table(results: dict[str, tuple[list[float], float]]) -> str:
    floor = statistics.median(results[FLOOR][0])
    baseline = statistics.median(results[BASELINE][0])
    lines = ["| command | median s | fastest s | vs floor | vs --help | other load | target |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, (walls, other) in results.items():
        median = statistics.median(walls)
        target = TARGETS.get(name)
        verdict = "" if target is None else \
            f"< {target} s: {'PASS' if median < target else 'OVER'}"
        lines.append(f"| {name} | {median:.3f} | {min(walls):.3f} | {median / floor:.1f}x | "
                     f"{median / baseline:.2f}x | {other:.0%} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--wait", type=float, default=120.0,
                        help="Seconds to wait at most for other processes to settle.")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    other = wait_until_idle(args.wait)
    print(f"other processes used {other:.0%} of the machine before the run")
    results = measure(commands(), args.repeat)
    publish(table(results), "startup", "CLI start-up", "python " + " ".join(sys.argv),
            write=not args.no_write)


if __name__ == "__main__":
    main()
