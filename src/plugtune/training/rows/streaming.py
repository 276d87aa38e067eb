"""``data.streaming``: sft/pt rows read, encoded (and packed) while the model trains.

A corpus too large to encode before the first step (or to encode at all, on disk) is
read as the DataLoader takes rows: a torch ``IterableDataset`` over
:class:`~plugtune.training.rows.streams.RowStreams`, so training starts at once and memory
holds one chunk of records, the shuffle buffer (``data.buffer_size`` records, seeded by
``data.seed`` and the epoch) and one batch. A stream has no length: the run needs
``training.max_steps``; an epoch that ends early starts the stream again. Eval data is
encoded into a list (see :func:`streamed_splits`).

Several processes (accelerate, torchrun): each reads and encodes the stream and keeps
its share of every global batch (accelerate's ``IterableDatasetShard``; batches are not
dispatched from rank 0, which would need batches of one shape). No process holds more,
and no coordinator is needed; the encoding is repeated in each process, which costs
only where encoding is slower than a training step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import IterableDataset

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.data.encoding import EncodingReport
from plugtune.data.report import LoadReport
from plugtune.data.splits import shuffle_stream
from plugtune.training.rows.streams import RowStreams, check_encoded
from plugtune.training.run.distributed import is_main_process
from plugtune.training.speed.hf_trainer import LENGTH_STRATEGIES


def check_streaming(config: RunConfig) -> None:
    """What ``data.streaming`` cannot do, named with the fix (before anything loads)."""
    data, training = config.data, config.training
    extra = training.model_extra or {}
    problems = []
    if training.max_steps <= 0:
        problems.append("a stream has no length, so the run needs training.max_steps (> 0)")
    if data.val_size > 0:
        problems.append("val_size would count the stream before training; name evaluation "
                        "data in data.eval, or prepare the data (plugtune data prepare)")
    if data.prepared is not None:
        problems.append("data.prepared rows are memory-mapped from disk already; use one")
    if extra.get("train_sampling_strategy") in LENGTH_STRATEGIES:
        problems.append("training.train_sampling_strategy groups rows by length, which "
                        "needs every row first; remove it")
    if extra.get("dataloader_num_workers"):
        problems.append("each DataLoader worker would read the whole stream; remove "
                        "training.dataloader_num_workers")
    if problems:
        raise ConfigError("data.streaming: " + "; ".join(problems))


def streamed_splits(streams: RowStreams) -> dict[str, Any]:
    """The train stream (shuffled), and the eval rows, for
    :class:`~plugtune.training.run.causal_lm.EncodedRows`.

    The eval rows are encoded into a list first: every evaluation reads them all anyway,
    and accelerate weighs the last, shorter batch of a dataset without a length as a
    full one (a wrong ``eval_loss``); an eval set is small."""
    evaluation: list[Any] = []
    if streams.records.has("eval"):
        report = EncodingReport()
        evaluation = list(streams.rows(streams.split_records(LoadReport())["eval"], report))
        check_encoded("eval", report)
    return {"train": StreamedRows(streams), "eval": evaluation}


class StreamedRows(IterableDataset):  # type: ignore[type-arg]
    """The train rows, read, shuffled and encoded afresh at every pass; bad records are
    reported (and ``on_bad_record`` applied) as they are met, by file and line."""

    def __init__(self, streams: RowStreams) -> None:
        self.streams = streams
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """transformers calls it at each epoch: another shuffle order."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        data = self.streams.run.config.data
        loading = LoadReport() if is_main_process() else None  # logged by one process
        records = self.streams.split_records(loading)["train"]
        if data.buffer_size > 1:
            records = shuffle_stream(records, data.buffer_size, data.seed + self.epoch)
        report = EncodingReport()
        yield from self.streams.rows(records, report)
        check_encoded("train", report)
