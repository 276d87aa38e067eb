"""Runs launched as separate processes (torchrun, accelerate launch), as the distributed
tests and the multi-node trainer tests do: the same interpreter's launchers, one thread
per process, a small config on the example data, and the adapter a run saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import REPO

#: The venv's scripts (torchrun, accelerate): launched runs use the same interpreter.
BIN = Path(sys.executable).parent
ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"


def write_config(folder: Path, prepared: Path | None = None, **training: Any) -> Path:
    """A four-step LoRA run on the example data, writing to ``folder / "out"``."""
    settings = {"max_steps": 4, "logging_steps": 1, "per_device_train_batch_size": 2,
                "save_strategy": "no", **training}
    data = {"train": [str(ALPACA)], **({"prepared": str(prepared)} if prepared else {})}
    path = folder / "run.yaml"
    path.write_text(textwrap.dedent(f"""
        data: {json.dumps(data)}
        training: {json.dumps(settings)}
        output: {{dir: {folder / "out"}}}
    """))
    return path


def launch_env() -> dict[str, str]:
    """The environment of launched runs: one thread per process everywhere. torchrun
    sets that itself for several processes per node, not for one per node, and a
    different thread count splits the CPU kernels' sums differently (2e-6 apart after
    four steps), so one node and two must not differ in it to train the same weights."""
    return {**os.environ, "TORCH_EXTENSIONS_DIR": str(REPO / ".cache" / "torch_extensions"),
            "OMP_NUM_THREADS": "1"}


def launch(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (a launcher and its run) in ``cwd``; fail with its stderr's end."""
    done = subprocess.run(command, cwd=cwd, env=launch_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def node_commands(launcher: str, config: Path, port: int) -> list[list[str]]:
    """One launcher command per simulated machine, both meeting on 127.0.0.1:port."""
    command = ["-m", "plugtune", "train", str(config)]
    if launcher == "torchrun":  # c10d rendezvous: the agents agree on the ranks
        agent = [str(BIN / "torchrun"), "--nnodes", "2", "--nproc-per-node", "1",
                 "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                 "--rdzv-id", "plugtune-test", *command]
        return [agent, agent]
    return [[str(BIN / "accelerate"), "launch", "--num_machines", "2", "--machine_rank",
             str(rank), "--num_processes", "2", "--multi_gpu", "--main_process_ip",
             "127.0.0.1", "--main_process_port", str(port), "--mixed_precision", "no",
             "--dynamo_backend", "no", *command] for rank in (0, 1)]


def adapter_weights(folder: Path) -> dict[str, Any]:
    """The tensors of the LoRA adapter saved in ``folder``."""
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")
