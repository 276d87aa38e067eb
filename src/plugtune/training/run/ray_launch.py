"""``plugtune train`` under Ray Train: the run's own trainer in ``ray.workers`` Ray workers.

Ray Train's ``TorchTrainer`` places the workers (``ScalingConfig``: how many, their
resources, the placement strategy), sets torchrun's variables in each (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and creates the
process group (gloo on CPUs, NCCL on GPUs) before the training function starts. That
function is :func:`plugtune.training.train`, so transformers' ``Trainer`` finds the group
Ray made and trains exactly as under torchrun: global rank 0 alone writes checkpoints,
logs and results to ``output.dir`` (a folder every worker must see), each worker trains
on its share of the data, ``--resume`` reads the newest complete checkpoint. Ray keeps
only its own run state (``ray.storage_path``); plugtune reports no checkpoint to it.

Ray is imported in this module only, when a run asks for it: ``plugtune --help`` and runs
without Ray never load it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from plugtune.core.config import RayConfig, RunConfig
from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.training.run.distributed import launched

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'plugtune[ray]'"
# The driver's environment the workers need on any machine: plugin selection and
# tracing (PLUGTUNE_*), the Hugging Face cache and offline switches (HF_*).
FORWARDED_PREFIXES = ("PLUGTUNE_", "HF_")


@dataclass(frozen=True)
class WorkerTask:
    """What every worker needs to run the same ``plugtune train`` as the driver: the
    validated config, the session's plugins, and the folder relative paths start from."""

    config: dict[str, Any]
    plugins: tuple[str, ...]
    strict: bool
    resume: str | None
    callbacks: tuple[str, ...]
    folder: str


def require_ray() -> ModuleType:
    """Ray, or a message naming the extra that installs it."""
    try:
        import ray
        import ray.train.torch  # ray without its [train] part fails here
    except ImportError as error:
        raise ConfigError(
            f"ray: training under Ray needs Ray Train ({error}): {INSTALL_HINT}"
        ) from error
    return ray


def with_ray_options(config: RunConfig, *, use_ray: bool | None, workers: int | None,
                     address: str | None) -> RunConfig:
    """``config`` as ``plugtune train``'s ``--ray/--no-ray``, ``--workers`` and
    ``--ray-address`` change it: either of the last two implies ``--ray``; ``--ray``
    without a ``ray`` section trains with Ray's defaults (one worker)."""
    if use_ray is False:
        if workers is not None or address is not None:
            raise ConfigError("--no-ray: --workers and --ray-address are Ray options")
        return config.model_copy(update={"ray": None})
    if use_ray is None and workers is None and address is None:
        return config
    settings = (config.ray or RayConfig()).model_copy()
    if workers is not None:
        settings.workers = workers
    if address is not None:
        settings.address = address
    return config.model_copy(update={"ray": settings})


def train_on_ray(
    config: RunConfig,
    *,
    plugins: Sequence[str] = (),
    strict: bool = False,
    resume: str | None = None,
    callbacks: Sequence[str] = (),
) -> dict[str, float]:
    """Train as ``config`` says in ``config.ray.workers`` Ray Train workers; the metrics
    of global rank 0. ``plugins`` and ``strict`` rebuild the driver's session in each
    worker, as ``plugtune --plugin … --strict`` built it here."""
    settings = config.ray
    if settings is None:
        raise ConfigError("ray: this run has no ray section; set ray.workers or --ray")
    if launched():  # every process of the launcher would start its own Ray run
        raise ConfigError("ray: this process was started by a launcher (torchrun, accelerate, "
                          "deepspeed); Ray starts the processes itself: run plugtune train "
                          "without the launcher, or with --no-ray")
    ray = require_ray()
    from ray.train import RunConfig as RayRunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    task = WorkerTask(config=config.model_dump(mode="json"), plugins=tuple(plugins),
                      strict=strict, resume=resume, callbacks=tuple(callbacks),
                      folder=os.getcwd())
    started = not ray.is_initialized()
    if started:  # else the caller's connection (an embedding tool, a test) is used
        address = {"address": settings.address} if settings.address else {}
        ray.init(**{**settings.init_kwargs, **address})
    # Ray, not transformers, creates the process group: it gets the run's ddp_timeout.
    timeout_s = (config.training.model_extra or {}).get("ddp_timeout", TorchConfig.timeout_s)
    try:
        trainer = TorchTrainer(
            train_worker,
            train_loop_config={"task": task},
            scaling_config=scaling_config(settings),
            torch_config=TorchConfig(timeout_s=int(timeout_s)),
            run_config=RayRunConfig(
                name=settings.name, storage_path=storage_path(settings),
                worker_runtime_env={"env_vars": forwarded_environment()}),
        )
        log.info("Ray Train: %d worker(s) on %s", settings.workers,
                 settings.address or os.environ.get("RAY_ADDRESS") or "a local cluster")
        result = fit(trainer)
    finally:
        if started:
            ray.shutdown()
    return result.return_value  # what train() returned on global rank 0


def scaling_config(settings: RayConfig) -> Any:
    """Ray Train's ``ScalingConfig``: GPU workers when the resources ask for GPUs (or,
    without a word on it, when this machine has CUDA), CPU workers otherwise."""
    from ray.train import ScalingConfig

    resources = dict(settings.resources_per_worker)
    wants_gpu = resources.get("GPU", 0) > 0
    use_gpu = settings.use_gpu
    if use_gpu is None:
        use_gpu = wants_gpu if "GPU" in resources else cuda_available()
    elif use_gpu != wants_gpu and "GPU" in resources:
        raise ConfigError(
            f"ray.use_gpu: {use_gpu} contradicts ray.resources_per_worker "
            f"GPU: {resources['GPU']}; drop one of them")
    return ScalingConfig(num_workers=settings.workers, use_gpu=use_gpu,
                         resources_per_worker=resources or None,
                         placement_strategy=settings.placement_strategy)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def storage_path(settings: RayConfig) -> str | None:
    """Absolute, as Ray Train wants a local storage path (None: Ray's default)."""
    if settings.storage_path is None:
        return None
    return Path(settings.storage_path).expanduser().resolve().as_posix()


def forwarded_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items()
            if key.startswith(FORWARDED_PREFIXES)}


def fit(trainer: Any) -> Any:
    """``trainer.fit()``; a plugtune error a worker raised (a config or data problem)
    comes back as that error, not as Ray's wrapper around it."""
    from ray.train import WorkerGroupError

    try:
        return trainer.fit()
    except WorkerGroupError as failure:  # rank -> the exception its training function raised
        for _, error in sorted(failure.worker_failures.items()):
            if isinstance(error, PlugtuneError):
                raise error from failure
        raise


def train_worker(loop_config: dict[str, Any]) -> dict[str, float]:
    """One Ray Train worker: the driver's ``plugtune train`` in the process group Ray
    set up. Relative paths in the config start from the driver's folder when this
    machine has it (a shared filesystem), as they do under torchrun."""
    from plugtune.core.session import Session
    from plugtune.training.run.train import train

    task: WorkerTask = loop_config["task"]
    if Path(task.folder).is_dir():
        os.chdir(task.folder)
    else:
        log.warning("%s is not on this machine: relative paths in the config start from %s",
                    task.folder, os.getcwd())
    config = RunConfig.model_validate(task.config)
    build_tiny_models_on_rank_0(task.config)
    session = Session.from_config(config, plugins=task.plugins, strict=task.strict)
    return train(config, session, resume=task.resume, callbacks=task.callbacks)


def build_tiny_models_on_rank_0(value: Any) -> None:
    """Global rank 0 builds the config's ``tiny://`` models into the cache while the
    others wait. Ray creates the process group before the run starts, and from then on
    transformers' ``save_pretrained`` writes on rank 0 only: a build on another rank
    would come out empty (under torchrun every process builds before the group exists).
    The other ranks then find the build in the cache (one machine, or a shared cache)."""
    refs = tiny_refs(value)
    if not refs:
        return
    import torch.distributed as dist

    from plugtune.models.sources import resolve_model_path

    if dist.get_rank() == 0:
        for ref in sorted(refs):
            resolve_model_path(ref)
    dist.barrier()


def tiny_refs(value: Any) -> set[str]:
    """Every ``tiny://`` string in a config dump (the model, a reference or reward model)."""
    from plugtune.tiny import TINY_SCHEME

    if isinstance(value, str):
        return {value} if value.startswith(TINY_SCHEME) else set()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*(tiny_refs(item) for item in items))
