"""DPO on preference pairs whose prompts have images (LLaMA-Factory's rlhf_v layout: a
ranking sharegpt dataset with an images column), for both tiny VLM families: what the
batches hold, and that TRL's loss on them is the DPO loss computed by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from plugtune import Session, load_config
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.data.encoding import IGNORE_INDEX
from plugtune.inference import load_backend
from plugtune.plugins.trainers.preference.image_pairs import image_pair_collator
from plugtune.plugins.trainers.preference.trl_runs import pair_rows_by_split
from plugtune.sdk.backends.adapters import adapter_scope
from plugtune.training import train
from tests.conftest import FIXTURES, needs_fixtures

IMAGES = FIXTURES / "llamafactory_data" / "mllm_demo_data"
PAIRS = [
    ("<image>Who are they?", "They're Kane and Gretzka from Bayern Munich.",
     "They are two cats.", ["1.jpg"]),
    ("<image>Who is he?", "He's Thomas Muller from Bayern Munich.", "A tree.", ["2.jpg"]),
    ("Name a football club.", "Bayern Munich.", "A tree.", []),  # a text pair among them
]
BETA = 0.1


def write_pairs(folder: Path) -> None:
    """LLaMA-Factory's rlhf_v layout, with the fixtures' pictures."""
    for name in ("1.jpg", "2.jpg"):
        shutil.copyfile(IMAGES / name, folder / name)
    rows = [{"conversations": [{"from": "human", "value": prompt}],
             "chosen": {"from": "gpt", "value": chosen},
             "rejected": {"from": "gpt", "value": rejected}, "images": images}
            for prompt, chosen, rejected, images in PAIRS]
    (folder / "pairs.json").write_text(json.dumps(rows))
    (folder / "dataset_info.json").write_text(json.dumps({"pairs": {
        "file_name": "pairs.json", "ranking": True, "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen",
                    "rejected": "rejected", "images": "images"}}}))


def dpo_config(folder: Path, model: str, *overrides: str) -> RunConfig:
    return load_config(None, [
        f"model.path={model}", "trainer=dpo", "data.train=[pairs]", "data.eval=[pairs]",
        f"data.dataset_dir={folder}", f"output.dir={folder / 'run'}",
        "training.per_device_train_batch_size=3", "training.max_steps=4",
        "training.learning_rate=5e-3", "training.lr_scheduler_type=constant",
        "training.logging_steps=1", "training.save_strategy=no", *overrides])


@pytest.fixture(scope="module", params=["tiny://qwen2-vl", "tiny://llava"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[RunConfig, dict[str, float]]:
    folder = tmp_path_factory.mktemp("vdpo")
    write_pairs(folder)
    config = dpo_config(folder, request.param)
    return config, train(config, Session())


@needs_fixtures
@pytest.mark.slow
def test_dpo_on_image_pairs_trains_both_vlm_families(
    trained: tuple[RunConfig, dict[str, float]],
) -> None:
    config, metrics = trained
    output = Path(config.output.dir)
    logged = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text()
              .splitlines()]
    losses = [entry["loss"] for entry in logged if "loss" in entry]
    assert losses[0] == pytest.approx(0.6931, abs=1e-4)  # ln 2: the policy is the reference
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.4, losses
    assert metrics["eval_rewards/margins"] > 0
    assert (output / "processor_config.json").is_file()  # the run's folder takes images


@needs_fixtures
@pytest.mark.slow
def test_the_batches_hold_chosen_then_rejected_with_images_never_in_the_answers(
    trained: tuple[RunConfig, dict[str, float]],
) -> None:
    config, _ = trained
    pairs = pair_rows_by_split(_run(config), "dpo", images=True)
    collator = image_pair_collator(pairs, config.data)
    rows = pairs.rows["train"]
    assert [len(row["image_files"]) for row in rows] == [1, 1, 0]
    batch = collator(rows)
    image_id = collator.images.image_token_id
    assert batch["input_ids"].shape[0] == 2 * len(rows)
    for index, row in enumerate(rows):
        for half, answer in enumerate(("chosen_ids", "rejected_ids")):
            ids = batch["input_ids"][half * len(rows) + index]
            mask = batch["completion_mask"][half * len(rows) + index]
            assert ids[mask.bool()].tolist() == row[answer]  # exactly the answer is trained
            images = int((ids == image_id).sum())
            assert (images > 0) == bool(row["image_files"])  # expanded in the prompt only
            assert not mask[ids == image_id].any()
    grid = batch.get("image_grid_thw")
    expected = 2 * 2 if grid is None else int(grid.prod(-1).sum())
    assert batch["pixel_values"].shape[0] == expected  # each pair's image, for both halves
    if "mm_token_type_ids" in batch:
        assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == image_id).long())


@needs_fixtures
@pytest.mark.slow
def test_the_eval_loss_is_the_dpo_loss_computed_by_hand(
    trained: tuple[RunConfig, dict[str, float]],
) -> None:
    """-log sigmoid(beta * ((policy - reference) on chosen - (policy - reference) on
    rejected)), each a sum of answer-token log-probabilities, the reference being the
    base model (the adapter as training started: LoRA starts as the identity)."""
    config, metrics = trained
    pairs = pair_rows_by_split(_run(config), "dpo", images=True)
    batch = image_pair_collator(pairs, config.data)(pairs.rows["eval"])
    answering = RunConfig.model_validate({
        "model": {"path": config.model.path, "adapter": config.output.dir},
        "backend": {"name": "transformers", "device": "cpu"}})
    model = load_backend(answering, Session()).model
    mask = batch.pop("completion_mask")

    def answer_logps(adapter: str | None) -> torch.Tensor:
        with torch.inference_mode(), adapter_scope(model, adapter):
            logits = model(**batch).logits[:, :-1].float()
        targets = batch["input_ids"][:, 1:]
        per_token = torch.gather(F.log_softmax(logits, -1), 2, targets[..., None])[..., 0]
        return (per_token * mask[:, 1:]).sum(-1)

    policy, reference = answer_logps("default"), answer_logps(None)
    chosen, rejected = (policy - reference).chunk(2)
    expected = -F.logsigmoid(BETA * (chosen - rejected)).mean()
    assert metrics["eval_loss"] == pytest.approx(float(expected), abs=1e-4)
    assert IGNORE_INDEX not in batch["input_ids"]


@needs_fixtures
def test_image_pairs_for_a_text_model_are_refused(tmp_path: Path) -> None:
    write_pairs(tmp_path)
    with pytest.raises(ConfigError, match=r"images: model 'tiny://qwen2' takes no images"):
        train(dpo_config(tmp_path, "tiny://qwen2"), Session())


def _run(config: RunConfig) -> Any:
    from plugtune.core.interfaces import TrainingRun

    return TrainingRun(config=config, session=Session(), output_dir=Path(config.output.dir))
