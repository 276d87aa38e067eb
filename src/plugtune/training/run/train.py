"""``train(config)``: what ``plugtune train`` and embedding tools call.

Resolves the trainer plugin and the output folder, hands the trainer a
:class:`~plugtune.core.interfaces.TrainingRun`, and writes what every run leaves
behind whatever its algorithm: the resolved config, ``all_results.json`` and the loss
curves (on the main process only, when several train together).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from plugtune.core.config import AUTO_TEMPLATE, ComponentRef, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import PreparesRows, TakesFlatBatches, Trainer, TrainingRun
from plugtune.core.session import Session
from plugtune.folder_lock import hold_folder
from plugtune.training.run.distributed import is_main_process
from plugtune.training.run.outputs import (
    LOG_FILE,
    prepare_output_dir,
    write_results,
    write_run_config,
)
from plugtune.training.run.plots import plot_losses

log = logging.getLogger(__name__)

DEFAULT_TRAINER = "sft"
LOSS_PLOT = "training_loss.png"
# Where transformers 5 keeps a tokenizer's chat template (AutoTokenizer reads it).
CHAT_TEMPLATE_FILE = "chat_template.jinja"


def check_reads_prepared(trainer: Trainer, config: RunConfig) -> None:
    """A run naming ``data.prepared`` (or ``data.streaming``) needs a trainer that reads
    sft/pt rows: any other would load and encode its data in memory, leaving the folder
    unused (or the stream unstreamed), silently."""
    if isinstance(trainer, PreparesRows):
        return
    name = config.trainer.name if config.trainer else DEFAULT_TRAINER
    if config.data.prepared is not None:
        raise ConfigError(
            f"data.prepared: prepared datasets hold sft/pt rows (token ids and labels); "
            f"trainer {name!r} encodes its own examples (pairs, prompts) at every run: "
            "remove data.prepared, or train with sft or pt")
    if config.data.streaming:
        raise ConfigError(
            f"data.streaming: sft and pt stream their rows; trainer {name!r} loads its "
            "records into memory: remove data.streaming, or train with sft or pt")


def check_padding_free(trainer: Trainer, config: RunConfig) -> None:
    """``data.padding_free: true`` needs a trainer whose batches can be flat: sft and pt
    (plugtune's rows) and those that say so (:class:`TakesFlatBatches`: dpo, kto); any
    other would pad them anyway, silently."""
    if not config.data.padding_free or isinstance(trainer, PreparesRows):
        return
    if not (isinstance(trainer, TakesFlatBatches) and trainer.takes_flat_batches):
        name = config.trainer.name if config.trainer else DEFAULT_TRAINER
        raise ConfigError(
            f"data.padding_free: trainer {name!r} pads its batches (sft, pt, dpo and kto "
            "can train on flat ones): remove data.padding_free")


def train(
    config: RunConfig,
    session: Session,
    *,
    resume: str | None = None,
    callbacks: Sequence[str | ComponentRef] = (),
) -> dict[str, float]:
    """Train as ``config`` says. ``resume``: ``"auto"`` or a checkpoint folder;
    ``callbacks``: callback plugins to add to the config's own."""
    config = session.validate(config)
    trainer: Trainer = session.build("trainers", config.trainer or DEFAULT_TRAINER)
    check_reads_prepared(trainer, config)
    check_padding_free(trainer, config)
    if config.data.streaming:
        from plugtune.training.rows.streaming import check_streaming

        check_streaming(config)
    resuming = (resume or config.training.resume_from_checkpoint) is not None
    output_dir = Path(config.output.dir)
    with run_folder_lock(output_dir):
        if is_main_process():  # the other ranks let transformers create folders as it needs
            prepare_output_dir(config, resume=resuming)
            write_run_config(config, output_dir)
        run = TrainingRun(
            config=config,
            session=session,
            output_dir=output_dir,
            resume=resume,
            callbacks=[session.build("callbacks", ref) for ref in callbacks],
        )
        metrics = trainer.train(run)
        if is_main_process():
            write_chat_template(config, session, output_dir)
            write_results(metrics, output_dir)
            plot = output_dir / LOSS_PLOT
            if config.output.plot and plot_losses(output_dir / LOG_FILE, plot):
                log.info("loss curves: %s", plot)
    return metrics


def run_folder_lock(output_dir: Path) -> AbstractContextManager[object]:
    """The run's hold on its folder (:mod:`plugtune.folder_lock`), taken before
    ``output.overwrite`` may delete it: by the main process for every process of the run
    (each rank of a launcher runs ``train``; the others write into the folder it holds)."""
    return hold_folder(output_dir) if is_main_process() else nullcontext()


def write_chat_template(config: RunConfig, session: Session, output_dir: Path) -> Path | None:
    """The run's template as the Jinja chat template saved with its tokenizer, when the
    config names a template that writes one (a template plugin has no Jinja of its own in
    the base model's tokenizer), or gives a ``default_system`` (then the tokenizer's own
    with that default in front): served or exported, the run is prompted as it trained.
    ``template: auto`` matched the tokenizer's own template, which is saved already."""
    if config.template is None or config.template.name == AUTO_TEMPLATE:
        return None
    from plugtune.data.templates import tokenizer_and_template
    from plugtune.deploy.export import run_chat_template

    tokenizer, template = tokenizer_and_template(config, session)
    jinja = run_chat_template(template, tokenizer)
    if jinja is None:
        return None
    path = output_dir / CHAT_TEMPLATE_FILE
    path.write_text(jinja, encoding="utf-8")
    log.info("chat template of %r: %s", template.name, path)
    return path


def summary(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The metrics worth printing after a run, formatted."""
    keys = ("train_loss", "eval_loss", "train_runtime", "num_input_tokens_seen", "epoch")
    return [(key, _number(metrics[key])) for key in keys if key in metrics]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"
