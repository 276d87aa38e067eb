"""An example plugtune plugin: one component of several kinds, registered by hooks.

Nothing heavy is imported at module level, so ``plugtune --help`` stays fast even with
this plugin installed; the callback imports transformers only when a run builds it.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, Field

from plugtune import hookimpl

log = logging.getLogger(__name__)


class KeywordOptions(BaseModel):
    """Options of the ``keyword`` reward, validated from the run config."""

    model_config = ConfigDict(extra="forbid")

    keyword: str = Field(min_length=1)
    case_sensitive: bool = False


def keyword_reward(keyword: str, case_sensitive: bool = False) -> Any:
    """Reward 1.0 for completions that contain a keyword, else 0.0."""
    wanted = keyword if case_sensitive else keyword.lower()

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        if not case_sensitive:
            texts = [text.lower() for text in texts]
        return [1.0 if wanted in text else 0.0 for text in texts]

    return reward


def length_ratio(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean characters of predictions over mean characters of references."""
    reference_chars = sum(len(r) for r in references) or 1
    return {"length_ratio": sum(len(p) for p in predictions) / reference_chars}


def loss_printer() -> Any:
    """Log the training loss at every logging step."""
    from transformers import TrainerCallback

    class LossPrinter(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                log.info("step %d: loss %.4f", state.global_step, logs["loss"])

    return LossPrinter()


@click.command("example-words")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", default=5, show_default=True)
def example_words(path: Path, top: int) -> None:
    """Print the most frequent words of a text file."""
    counts = collections.Counter(path.read_text(encoding="utf-8").split())
    for word, count in counts.most_common(top):
        click.echo(f"{count}\t{word}")


@hookimpl
def register_rewards(register: Any) -> None:
    register("keyword", keyword_reward, options=KeywordOptions)


@hookimpl
def register_metrics(register: Any) -> None:
    register("length_ratio", length_ratio)


@hookimpl
def register_callbacks(register: Any) -> None:
    register("loss_printer", loss_printer)


@hookimpl
def register_commands(register: Any) -> None:
    register(example_words)
