"""``kto``: Kahneman-Tversky Optimization on answers labelled desirable or not (TRL's
``KTOTrainer``).

Unlike dpo it needs no pairs: each example is one answer with a label (kto records;
the answers of preference pairs and of gold_bad records, labelled by their side, see
:mod:`.preference_examples`). The KL term is estimated from mismatched
prompt/answer pairs inside each batch, so a batch holds at least two examples.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun

log = logging.getLogger(__name__)

PLOT_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "kl")


class KTOOptions(BaseModel):
    """The KTO knobs; any other ``trl.KTOConfig`` field may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0.0, description="How far from the reference (higher: less).")
    desirable_weight: float = Field(
        1.0, gt=0.0, description="Weight of desirable examples' losses (balance the labels)."
    )
    undesirable_weight: float = Field(
        1.0, gt=0.0, description="Weight of undesirable examples' losses."
    )
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    ref_model: str | None = Field(
        None, description="A reference model path; None: the model as training starts.",
    )


class KahnemanTverskyOptimization:
    """Raise the likelihood of desirable answers and lower that of undesirable ones,
    relative to a frozen reference (TRL's KTOTrainer on plugtune's rows)."""

    #: Its batches may be padding-free (``data.padding_free``; flat_fused_calls.py).
    takes_flat_batches = True

    def __init__(self, **options: Any) -> None:
        self.options = KTOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from transformers import set_seed
        from trl import KTOConfig, KTOTrainer

        from plugtune.plugins.trainers.preference.preference_examples import labeled_completions
        from plugtune.plugins.trainers.preference.preference_rows import completion_rows
        from plugtune.plugins.trainers.preference.trl_runs import (
            loaded_records,
            reference_model,
            train_with_trl,
            trl_arguments,
        )
        from plugtune.training.run.finetuning import trainable_model

        config = run.config
        if self.options.loss_type == "kto" and config.training.per_device_train_batch_size < 2:
            raise ConfigError(
                "training.per_device_train_batch_size: kto needs at least 2 (TRL estimates "
                "the KL term by pairing each prompt with another example's answer in the "
                "same batch); raise it and lower gradient_accumulation_steps to keep the "
                "effective batch"
            )
        train, evaluation, tokenizer, template = loaded_records(run)
        rows = {
            split: completion_rows(labeled_completions(records, "kto"), template, tokenizer,
                                   config, split)
            for split, records in (("train", train), ("eval", evaluation))
        }
        desirable = sum(bool(row["label"]) for row in rows["train"])
        log.info("kto: %d desirable and %d undesirable training examples", desirable,
                 len(rows["train"]) - desirable)
        args = trl_arguments(run, KTOConfig, "kto", self.options.model_dump(exclude={"ref_model"}),
                             has_eval=bool(rows["eval"]))
        set_seed(config.training.seed)  # before the adapter is initialised: runs repeat
        model = trainable_model(config, run.session)
        return train_with_trl(
            run, "kto", _tokenized_kto(KTOTrainer), model=model, args=args, tokenizer=tokenizer,
            train=rows["train"], evaluation=rows["eval"], plot_keys=PLOT_KEYS,
            ref_model=reference_model(run, self.options.ref_model), fused_log_probs=True,
        )


def _tokenized_kto(trainer_class: type) -> type:
    """KTOTrainer on plugtune's tokenized rows: TRL's own preparation is skipped, but
    its KL completions are added the way it adds them (each batch's completions
    rotated by one, so every prompt meets another example's answer)."""

    from plugtune.compat.trl import Pretokenized, computes_kl

    class KTOTrainer(Pretokenized, trainer_class):  # type: ignore[misc, valid-type]
        def prepared_rows(self, dataset: Any, args: Any) -> Any:
            if not computes_kl(self):
                return dataset
            size = args.per_device_train_batch_size
            completions = dataset["completion_ids"]
            rotated: list[Any] = []
            for start in range(0, len(completions), size):
                batch = completions[start:start + size]
                rotated += [batch[-1], *batch[:-1]]
            return dataset.add_column("KL_completion_ids", rotated)

    return KTOTrainer
