"""Preference pairs with images, batched for TRL's ``DPOTrainer``.

The rows are plugtune's own pair rows (:func:`~.trl_runs.pair_rows_by_split`
with ``images``): the run's template, its cutoff and overflow rules, each prompt's
``<image>`` placeholders written as the processor's image prompt (one image token per
image at this stage, as for sft), and each row naming its image files. This collator
turns a batch of them into what TRL's loss reads: the chosen sequences, then the
rejected ones (TRL splits the batch in two halves), each expanded and given pixels by
:class:`~plugtune.training.rows.images.ImageCollator` — images read per batch, their
tokens never in the loss — and ``completion_mask`` marking the answers.

TRL's own vision path is not used: it renders prompts with the tokenizer's chat
template (whatever ``template:`` says) and would drop the rows' cutoff accounting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import DataConfig
from plugtune.data.encoding import IGNORE_INDEX, EncodedExample
from plugtune.plugins.trainers.preference.trl_runs import PairRows
from plugtune.training.rows.images import ImageCollator, checked_collator

#: The two answers of a pair, in the order TRL's DPOTrainer expects its batch halves.
ANSWERS = ("chosen_ids", "rejected_ids")


@dataclass(frozen=True)
class ImagePairCollator:
    """A batch of pair rows with images as TRL's DPO loss reads it (see module doc)."""

    images: ImageCollator

    def __call__(self, pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        rows = [
            EncodedExample(
                [*pair["prompt_ids"], *pair[answer]],
                [IGNORE_INDEX] * len(pair["prompt_ids"]) + list(pair[answer]),
                pair["origin"],
                tuple(pair["image_files"]),
            )
            for answer in ANSWERS
            for pair in pairs
        ]
        batch = self.images(rows)
        labels = batch.pop("labels")  # TRL builds its labels from completion_mask
        batch["completion_mask"] = (labels != IGNORE_INDEX).long()
        return batch


def image_pair_collator(pairs: PairRows, data: DataConfig) -> ImagePairCollator:
    """The collator of a run's pairs with images (``pairs.processor`` and
    ``pairs.with_images`` set), checked and sized as sft's
    (:func:`~plugtune.training.rows.images.checked_collator`)."""
    if pairs.with_images is None:
        raise ValueError("image_pair_collator: the pairs have no images")
    return ImagePairCollator(checked_collator(pairs.processor, pairs.tokenizer,
                                              pairs.template, pairs.with_images, data))
