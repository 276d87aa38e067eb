"""Two simulated nodes against one node with two processes: the same losses, and the time.

One run, alternating: ``torchrun --nproc_per_node 2`` (one node), and two ``torchrun``
agents with ``--nnodes 2 --nproc-per-node 1`` meeting at a c10d rendezvous on
127.0.0.1 (two nodes' launchers on this machine), each training sft on tiny://qwen2 over
gloo. The losses of each step must agree; the time ratio shows what the elastic
rendezvous costs (the network between real machines is not simulated).

    python benchmarks/multi_node.py [--steps 20] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import publish

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = str(Path(sys.executable).parent / "torchrun")
ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(folder: Path, steps: int) -> Path:
    config = {
        "data": {"train": [str(ALPACA)]},
        "training": {"max_steps": steps, "logging_steps": 1, "save_strategy": "no",
                     "per_device_train_batch_size": 2},
        "output": {"dir": str(folder / "out"), "plot": False},
    }
    path = folder / "run.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def one_node(folder: Path, steps: int) -> float:
    command = [TORCHRUN, "--nproc_per_node", "2", "--master_port", str(free_port()),
               "-m", "plugtune", "train", str(write_config(folder, steps))]
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


def two_nodes(folder: Path, steps: int) -> float:
    agent = [TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
             "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "benchmark",
             "-m", "plugtune", "train", str(write_config(folder, steps))]
    started = time.perf_counter()
    agents = [subprocess.Popen(agent, cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) for _ in range(2)]
    codes = [process.wait() for process in agents]
    if codes != [0, 0]:
        raise SystemExit(f"the two agents exited with {codes}")
    return time.perf_counter() - started


def losses(folder: Path) -> list[float]:
    lines = (folder / "out" / "trainer_log.jsonl").read_text().splitlines()
    return [entry["loss"] for entry in map(json.loads, lines) if "loss" in entry]


LAUNCHES = {"one node, 2 processes": one_node, "two nodes, 1 process each": two_nodes}


def run_all(steps: int, repeat: int, work: Path) -> tuple[dict[str, float], float]:
    """Each launch's best wall time, and the largest difference of a step's loss between
    the two launches of a round."""
    times: dict[str, list[float]] = {name: [] for name in LAUNCHES}
    gap = 0.0
    for round_ in range(repeat):
        found = []
        for index, (name, launch) in enumerate(LAUNCHES.items()):
            folder = work / f"{round_}-{index}"
            folder.mkdir()
            times[name].append(launch(folder, steps))
            found.append(losses(folder))
            print(f"[{round_ + 1}/{repeat}] {name}: {times[name][-1]:.1f} s", flush=True)
        assert len(found[0]) == len(found[1]) == steps, found
        gap = max(gap, *(abs(a - b) for a, b in zip(*found, strict=True)))
    return {name: min(seconds) for name, seconds in times.items()}, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-write", action="store_true",
                        help="do not write benchmarks/results/multi_node.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="plugtune-nodes-") as work:
        best, gap = run_all(args.steps, args.repeat, Path(work))
    ratio = best["two nodes, 1 process each"] / best["one node, 2 processes"]
    table = "\n".join([
        "| launch | best wall s (whole process) |", "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in best.items()),
        "",
        f"- two nodes / one node, time: **{ratio:.2f}x**; largest loss difference over "
        f"{args.steps} steps: **{gap:.1e}**",
        f"- sft on tiny://qwen2 (LoRA), batch 2 per process, gloo on CPU; best of "
        f"{args.repeat} alternating run(s); machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
    ])
    publish(table, "multi_node", "Two simulated nodes vs one node",
            f"python benchmarks/multi_node.py --steps {args.steps} --repeat {args.repeat}",
            write=not args.no_write)


if __name__ == "__main__":
    main()
