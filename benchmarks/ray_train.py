"""Ray Train with 2 workers against torchrun with 2 processes: the same losses, and the time.

One run, alternating: ``torchrun --nproc_per_node 2 -m plugtune train`` (one node), then
``plugtune train --workers 2`` under Ray Train's TorchTrainer twice: joining a Ray
cluster (127.0.0.1, 2 CPUs) this script starts once (``--ray-address``, what a cluster
user sees), and starting and stopping a local cluster of its own (what ``--ray`` alone
costs on one machine). Each trains sft on tiny://qwen2 over gloo; the losses of each step
must agree with torchrun's. Wall time is the whole command; ``train_runtime`` is the
trainer's own loop, so the difference is start-up (Ray's workers, torch's imports).

    python benchmarks/ray_train.py [--steps 20] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from multi_node import free_port, losses, write_config
from results_file import publish

BIN = Path(sys.executable).parent


def timed(command: list[str], folder: Path) -> float:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def torchrun(folder: Path, steps: int, _address: str) -> float:
    return timed([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port",
                  str(free_port()), "-m", "plugtune", "train", str(write_config(folder, steps))],
                 folder)


def ray_command(folder: Path, steps: int, *options: str) -> list[str]:
    return [str(BIN / "plugtune"), "train", str(write_config(folder, steps)), "--workers", "2",
            "--set", f"ray.storage_path={folder / 'ray'}", *options]


def ray_cluster(folder: Path, steps: int, address: str) -> float:
    return timed(ray_command(folder, steps, "--ray-address", address), folder)


def ray_local(folder: Path, steps: int, _address: str) -> float:
    """A local cluster of the run's own, in a short temporary folder (AF_UNIX paths)."""
    temp = tempfile.mkdtemp(prefix="ptray-", dir="/tmp")
    init = json.dumps({"_temp_dir": temp, "include_dashboard": False})
    try:
        return timed(ray_command(folder, steps, "--set", f"ray.init_kwargs={init}"), folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


LAUNCHES: dict[str, Callable[[Path, int, str], float]] = {
    "torchrun, 2 processes": torchrun,
    "Ray Train, 2 workers, running cluster": ray_cluster,
    "Ray Train, 2 workers, own local cluster": ray_local,
}


def train_runtime(folder: Path) -> float:
    return json.loads((folder / "out" / "all_results.json").read_text())["train_runtime"]


def run_all(steps: int, repeat: int, work: Path, address: str) -> tuple[dict, dict, float]:
    """Each launch's best wall time and best train_runtime, and the largest difference
    of a step's loss from torchrun's in the same round."""
    walls: dict[str, list[float]] = {name: [] for name in LAUNCHES}
    loops: dict[str, list[float]] = {name: [] for name in LAUNCHES}
    gap = 0.0
    for round_ in range(repeat):
        reference: list[float] = []
        for index, (name, launch) in enumerate(LAUNCHES.items()):
            folder = work / f"{round_}-{index}"
            folder.mkdir()
            walls[name].append(launch(folder, steps, address))
            loops[name].append(train_runtime(folder))
            found = losses(folder)
            assert len(found) == steps, found
            reference = reference or found
            gap = max(gap, *(abs(a - b) for a, b in zip(reference, found, strict=True)))
            print(f"[{round_ + 1}/{repeat}] {name}: {walls[name][-1]:.1f} s", flush=True)
    best = {name: min(seconds) for name, seconds in walls.items()}
    return best, {name: min(seconds) for name, seconds in loops.items()}, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-write", action="store_true",
                        help="do not write benchmarks/results/ray_train.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray

    temp = tempfile.mkdtemp(prefix="ptray-", dir="/tmp")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             _temp_dir=temp, _node_ip_address="127.0.0.1")
    try:
        with tempfile.TemporaryDirectory(prefix="plugtune-ray-") as work:
            best, loops, gap = run_all(args.steps, args.repeat, Path(work),
                                       ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    reference = best["torchrun, 2 processes"]
    table = "\n".join([
        "| launch | best wall s (whole command) | vs torchrun | best train_runtime s |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {seconds:.1f} | {seconds / reference:.2f}x | {loops[name]:.2f} |"
          for name, seconds in best.items()),
        "",
        f"- largest loss difference from torchrun over {args.steps} steps: **{gap:.1e}**",
        f"- sft on tiny://qwen2 (LoRA), batch 2 per process, gloo on CPU; Ray "
        f"{ray.__version__} (Train V2); best of {args.repeat} alternating run(s); machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    ])
    publish(table, "ray_train", "Ray Train vs torchrun, 2 workers",
            f"python benchmarks/ray_train.py --steps {args.steps} --repeat {args.repeat}",
            write=not args.no_write)


if __name__ == "__main__":
    main()
