"""``dpo``: Direct Preference Optimization on preference pairs (TRL's ``DPOTrainer``).

The policy learns to prefer each pair's chosen answer over its rejected one, held
near a frozen reference (``beta``). The pairs come from preference records or from
gold_bad records (:mod:`.preference_examples`); the model from the ``peft``
section, so ``model.adapter`` continues an SFT adapter (the reference is then that
SFT adapter as loaded). The IPO, hinge, robust, EXO, NCA, BCO, SPPO, AOT, APO,
DiscoPOP and length-normalised losses are TRL's, by ``loss_type``. Pairs whose prompts
have images train a vision-language model (:mod:`.image_pairs`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugtune.core.interfaces import TrainingRun

DPOLoss = Literal[
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
]
# LLaMA-Factory's losses that TRL 1.16's DPOTrainer does not have.
ELSEWHERE = {
    "simpo": "SimPO is reference-free: use trainer simpo (TRL's experimental CPOTrainer)",
    "orpo": "ORPO is reference-free: use trainer orpo (TRL's experimental ORPOTrainer)",
    "kto_pair": "use trainer kto",
}
PLOT_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins")


class DPOOptions(BaseModel):
    """The DPO knobs; any other ``trl.DPOConfig`` field may go in ``training`` by name
    (``use_weighting``, ``f_divergence_type``, ``precompute_ref_log_probs``, …)."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(
        0.1, gt=0.0,
        description="How far from the reference the policy may move (higher: less); "
        "IPO's tau for loss_type ipo.",
    )
    loss_type: DPOLoss | list[DPOLoss] = Field(
        "sigmoid", description="TRL's DPO loss, or a list of them combined by loss_weights."
    )
    loss_weights: list[float] | None = Field(
        None, description="One weight per loss_type of a list (default 1.0 each)."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=0.5,
        description="Probability that a label is flipped (robust); EXO's epsilon (exo_pair).",
    )
    ld_alpha: float | None = Field(
        None, ge=0.0, le=1.0,
        description="LD-DPO: weight of the answer tokens beyond the shorter answer's length.",
    )
    ref_model: str | None = Field(
        None, description="A reference model path; None: the model as training starts.",
    )

    @field_validator("loss_type", mode="before")
    @classmethod
    def _known_elsewhere(cls, value: Any) -> Any:
        for name in [value] if isinstance(value, str) else value or []:
            if name in ELSEWHERE:
                raise ValueError(
                    f"{name!r} is not a loss of TRL's DPOTrainer, which plugtune's dpo "
                    f"runs ({ELSEWHERE[name]}); its losses: {', '.join(DPOLoss.__args__)}"
                )
        return value

    @model_validator(mode="after")
    def _weights_match(self) -> DPOOptions:
        count = len(self.loss_type) if isinstance(self.loss_type, list) else 1
        if self.loss_weights is not None and len(self.loss_weights) != count:
            raise ValueError(
                f"loss_weights has {len(self.loss_weights)} weights for {count} loss_type(s)"
            )
        return self


class DirectPreferenceOptimization:
    """Prefer the chosen answer of each pair over the rejected one, near a frozen
    reference (TRL's DPOTrainer on plugtune's rows, model and callbacks)."""

    #: Its batches may be padding-free (``data.padding_free``; flat_fused_calls.py).
    takes_flat_batches = True

    def __init__(self, **options: Any) -> None:
        self.options = DPOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from transformers import set_seed
        from trl import DPOConfig, DPOTrainer

        from plugtune.plugins.trainers.preference.image_pairs import image_pair_collator
        from plugtune.plugins.trainers.preference.trl_runs import (
            pair_rows_by_split,
            pretokenized,
            reference_model,
            train_with_trl,
            trl_arguments,
        )
        from plugtune.training.run.finetuning import trainable_model

        config = run.config
        pairs = pair_rows_by_split(run, "dpo", images=True)
        rows = pairs.rows
        args = trl_arguments(run, DPOConfig, "dpo", self.options.model_dump(exclude={"ref_model"}),
                             has_eval=bool(rows["eval"]))
        images: dict[str, Any] = {}
        if pairs.processor is not None:  # prompts with images: batched by plugtune
            images = {"processor": pairs.processor,
                      "data_collator": image_pair_collator(pairs, config.data)}
        set_seed(config.training.seed)  # before the adapter is initialised: runs repeat
        model = trainable_model(config, run.session)
        return train_with_trl(
            run, "dpo", pretokenized(DPOTrainer), model=model, args=args,
            tokenizer=pairs.tokenizer, train=rows["train"], evaluation=rows["eval"],
            plot_keys=PLOT_KEYS, ref_model=reference_model(run, self.options.ref_model),
            fused_log_probs=True,
            **images,
        )
