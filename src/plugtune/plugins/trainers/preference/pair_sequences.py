"""Preference pairs for TRL's reference-free trainers, ``ORPOTrainer`` and ``CPOTrainer``
(``trl.experimental`` since TRL 1.x), which plugtune's ``orpo``, ``cpo`` and ``simpo`` run.

Those trainers take rows in TRL's older format, one whole sequence per answer:
``chosen_input_ids`` (prompt and answer), its ``chosen_attention_mask`` and
``chosen_labels`` (the prompt at ``IGNORE_INDEX``, out of the loss), the same for the rejected
answer, and the prompt alone (read only to generate during evaluation). The rows are
plugtune's own (:func:`~.trl_runs.pair_rows_by_split`: rendered by the
run's template, cut to ``data.cutoff_len``, counted), so the trainers' own text
preparation (the tokenizer's chat template, a BOS and EOS added) is skipped, and each
batch's real tokens are counted into ``num_input_tokens_seen`` (transformers' count
looks for ``input_ids``, which these batches do not have).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plugtune.core.interfaces import TrainingRun
from plugtune.data.encoding import IGNORE_INDEX

PLOT_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins")


def pair_sequences(rows: Sequence[Mapping[str, list[int]]]) -> list[dict[str, list[int]]]:
    """``prompt_ids``/``chosen_ids``/``rejected_ids`` rows as ORPO/CPO rows."""
    out = []
    for row in rows:
        prompt = list(row["prompt_ids"])
        item = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
        for side in ("chosen", "rejected"):
            answer = list(row[f"{side}_ids"])
            item[f"{side}_input_ids"] = prompt + answer
            item[f"{side}_attention_mask"] = [1] * (len(prompt) + len(answer))
            item[f"{side}_labels"] = [IGNORE_INDEX] * len(prompt) + answer
        out.append(item)
    return out


def tokenized_pairs(trainer_class: type) -> type:
    """``trainer_class`` (TRL's ``ORPOTrainer`` or ``CPOTrainer``) taking
    :func:`pair_sequences` rows as they are and counting their real tokens."""

    from plugtune.compat.transformers import TrainerHooks
    from plugtune.compat.trl import RowsAsGiven

    class TokenizedPairs(TrainerHooks, RowsAsGiven, trainer_class):  # type: ignore[misc, valid-type]
        def count_batch_tokens(self, inputs: Any) -> None:
            import torch

            tokens = sum(inputs[f"{side}_attention_mask"].sum()
                         for side in ("chosen", "rejected"))
            count = torch.as_tensor(tokens, device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += int(self.accelerator.gather(count).sum().item())

    TokenizedPairs.__name__ = TokenizedPairs.__qualname__ = trainer_class.__name__
    return TokenizedPairs


def train_on_pair_sequences(run: TrainingRun, name: str, trainer_class: type,
                            config_class: type, options: Mapping[str, Any]) -> dict[str, float]:
    """Train the run's model with ``trainer_class`` (already :func:`tokenized_pairs`),
    configured by ``config_class`` (``ORPOConfig``, ``CPOConfig``) with the trainer's
    ``options``, on the run's preference pairs; plugtune's callbacks, outputs and reward
    curves as for dpo."""
    from transformers import set_seed

    from plugtune.plugins.trainers.preference.trl_runs import (
        pair_rows_by_split,
        train_with_trl,
        trl_arguments,
    )
    from plugtune.training.run.finetuning import trainable_model

    pairs = pair_rows_by_split(run, name)
    rows, tokenizer = pairs.rows, pairs.tokenizer
    args = trl_arguments(run, config_class, name, options, has_eval=bool(rows["eval"]))
    set_seed(run.config.training.seed)  # before the adapter is initialised: runs repeat
    model = trainable_model(run.config, run.session)
    return train_with_trl(
        run, name, trainer_class, model=model, args=args, tokenizer=tokenizer,
        train=pair_sequences(rows["train"]), evaluation=pair_sequences(rows["eval"]),
        plot_keys=PLOT_KEYS,
    )
