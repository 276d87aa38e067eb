"""Print a few greedy completions of evaluation prompts at each evaluation, and keep
them in ``sample_generations.jsonl``: the quickest way to see what a run is learning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SAMPLES_FILE = "sample_generations.jsonl"
PROMPT_CHARS = 80  # the end of a prompt is what the completion follows


class SampleGenerationsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(3, gt=0, description="How many evaluation prompts to complete.")
    max_new_tokens: int = Field(32, gt=0)


def prompt_ids(row: Any) -> list[int]:
    """The tokens before the first trained one: the prompt of an encoded example."""
    from plugtune.data.encoding import IGNORE_INDEX

    labels = row.labels
    first = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
    return list(row.input_ids[:first])


def sample_generations(count: int = 3, max_new_tokens: int = 32) -> Any:
    """Greedy completions of the first evaluation prompts, at each evaluation."""
    from transformers import TrainerCallback

    class SampleGenerations(TrainerCallback):
        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            loader, model = kwargs.get("eval_dataloader"), kwargs.get("model")
            tokenizer = kwargs.get("processing_class")
            if loader is None or model is None or tokenizer is None:
                return
            prompts = [prompt_ids(row) for row in list(loader.dataset)[:count]]
            samples = [_complete(model, tokenizer, ids, max_new_tokens) for ids in prompts if ids]
            with (Path(args.output_dir) / SAMPLES_FILE).open("a", encoding="utf-8") as handle:
                for prompt, completion in samples:
                    _show(state.global_step, prompt, completion)
                    record = {"step": state.global_step, "prompt": prompt,
                              "completion": completion}
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    return SampleGenerations()


def _show(step: int, prompt: str, completion: str) -> None:
    # The global console: what the progress bar draws on, so the two do not collide.
    from rich import get_console
    from rich.markup import escape

    shown = prompt if len(prompt) <= PROMPT_CHARS else "…" + prompt[-PROMPT_CHARS:]
    get_console().print(f"[dim]step {step}:[/dim] {escape(shown)}[bold]{escape(completion)}[/bold]")


def _complete(model: Any, tokenizer: Any, ids: list[int], max_new_tokens: int) -> tuple[str, str]:
    import torch

    was_training = model.training
    model.eval()
    inputs = torch.tensor([ids], device=model.device)
    with torch.no_grad():
        output = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    model.train(was_training)
    completion = tokenizer.decode(output[0, len(ids):], skip_special_tokens=False)
    return tokenizer.decode(ids, skip_special_tokens=False), completion
