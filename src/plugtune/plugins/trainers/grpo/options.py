"""The options of ``grpo`` and ``rloo`` (``trainer: {name: grpo, …}``): what both sample
and how (:class:`OnlineRLOptions`), and each one's own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OnlineRLOptions(BaseModel):
    """Sampling groups of completions per prompt: grpo's and rloo's shared knobs; any
    other field of TRL's config may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt.")
    max_completion_length: int = Field(64, gt=0, description="Tokens per completion at most.")
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    beta: float = Field(0.0, ge=0.0, description="KL coefficient; 0 loads no reference model.")
    num_iterations: int = Field(1, gt=0, description="Updates per generated batch.")
    epsilon: float = Field(0.2, gt=0.0, description="Clipping range of the ratio.")
    mask_truncated_completions: bool = Field(
        False, description="Leave completions cut off at max_completion_length out of the loss."
    )
    log_completions: bool = Field(False, description="Print a table of samples at each log.")
    use_vllm: bool = Field(False, description="Generate with vLLM (must be installed).")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_base_url: str | None = Field(None, description="Overrides host and port.")
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0.0, le=1.0)
    warn_truncated_above: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Warn when more than this share of completions is cut off (1: never).",
    )


class GRPOOptions(OnlineRLOptions):
    """The GRPO knobs. With the run's ``agent`` section, each completion is an episode
    with tool calls (:mod:`.agentic`)."""

    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = (
        "dapo"
    )
    importance_sampling_level: Literal["token", "sequence"] = Field(
        "token", description="sequence: GSPO (and what luspo needs)."
    )
    scale_rewards: Literal["group", "batch", "none"] = "group"
    environment_weight: float = Field(
        1.0, description="Weight of the reward an environment owns (get_reward), if any.")


class RLOOOptions(OnlineRLOptions):
    """REINFORCE Leave-One-Out: each completion's baseline is the mean reward of the
    other completions of its prompt; the KL to the reference model is in the reward."""

    beta: float = Field(0.05, ge=0.0, description="KL coefficient (TRL's RLOO default).")
    normalize_advantages: bool = False
    reward_clip_range: tuple[float, float] | None = Field(
        None, description="Clip each reward to [low, high] before the advantages.")


# Options plugtune reads itself; the rest are fields of TRL's GRPOConfig / RLOOConfig.
NOT_TRL_CONFIG = frozenset({"environment_weight", "warn_truncated_above"})
