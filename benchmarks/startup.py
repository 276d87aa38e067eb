"""Start-up cost of the CLI: `plugtune plugins list` and `--help` against bare Python.

All figures come from this run: each command is run ``--repeat`` times and the median
wall time is compared with ``python -c pass`` (the floor) and with importing the training
stack (what an eager CLI would pay). Target: `plugins list` under 0.5 s.

    python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

PLUGTUNE = [sys.executable, "-m", "plugtune"]
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "plugtune --help": [*PLUGTUNE, "--help"],
    "plugtune plugins list": [*PLUGTUNE, "plugins", "list"],
    "plugtune plugins list --json": [*PLUGTUNE, "plugins", "list", "--json"],
    "import transformers, trl, peft": [sys.executable, "-c", "import transformers, trl, peft"],
}
TARGET_SECONDS = 0.5


def median_wall(command: list[str], repeat: int) -> float:
    # As installed: bytecode is cached after the warm-up run (a shell with
    # PYTHONDONTWRITEBYTECODE would otherwise time recompiling every module, every run).
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONDONTWRITEBYTECODE"}
    environment["HF_HUB_OFFLINE"] = "1"
    subprocess.run(command, check=True, capture_output=True, env=environment)  # warm caches
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=environment)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {name: median_wall(command, args.repeat) for name, command in COMMANDS.items()}
    floor = results["python -c pass (floor)"]
    print(f"{'command':34} {'median s':>9} {'vs floor':>9}")
    for name, seconds in results.items():
        print(f"{name:34} {seconds:9.3f} {seconds / floor:8.1f}x")
    listing = results["plugtune plugins list"]
    verdict = "OK" if listing < TARGET_SECONDS else "OVER TARGET"
    eager = results["import transformers, trl, peft"]
    print(f"\nplugins list: {listing:.3f} s (target < {TARGET_SECONDS} s: {verdict}); "
          f"an eager import of the training stack alone costs {eager / listing:.1f}x that")


if __name__ == "__main__":
    main()
