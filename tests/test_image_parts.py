"""Images given as content parts of messages (OpenAI's ``image_url``, TRL's ``image``,
LLaMA-Factory's v1 ``{"type": "image_url", "value": path}``): each becomes an ``<image>``
placeholder where it stood and an image of the record, in order; such records train a
VLM like LLaMA-Factory's ``images`` column; bad parts name their field."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from plugtune import Session, load_config
from plugtune.core.config import DataConfig
from plugtune.core.records import Conversation, RecordError
from plugtune.data import load_dataset
from plugtune.training import train
from tests.conftest import FIXTURES, needs_fixtures

LLAMAFACTORY = FIXTURES / "llamafactory_data"


def load(folder: Path, rows: list[dict[str, Any]], ranking: bool | None = None,
         **options: Any) -> list[Any]:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"path": str(folder / "rows.jsonl"), "format": {"name": "openai", **options},
            "ranking": ranking}
    records, _ = load_dataset(spec, Session(), config=DataConfig())
    return records


def picture(folder: Path, name: str = "red.png") -> Path:
    Image.new("RGB", (30, 30), (200, 0, 0)).save(folder / name)
    return folder / name


def chat(*parts: Any, answer: str = "A red square.") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(parts)},
                         {"role": "assistant", "content": answer}]}


@needs_fixtures
def test_llamafactory_v1_multimodal_rows_read_with_their_images(tmp_path: Path) -> None:
    (tmp_path / "data").symlink_to(LLAMAFACTORY)  # its paths are data/mllm_demo_data/…
    rows = [json.loads(line) for line in
            (LLAMAFACTORY / "v1_multimodal_demo.jsonl").read_text().splitlines()
            if line.strip()]
    records = load(tmp_path, rows, media_dir=str(tmp_path))
    first: Conversation = records[0]
    assert [m.content for m in first.messages] == [
        "<image>Who are they?", "They're Kane and Gretzka from Bayern Munich.",
        "What are they doing?<image>", "They are celebrating on the soccer field."]
    assert first.meta["images"] == [str(tmp_path / "data/mllm_demo_data/1.jpg")] * 2
    placeholders = [sum(m.content.count("<image>") for m in r.messages) for r in records]
    assert placeholders == [len(r.meta.get("images", [])) for r in records]
    assert all(Path(image).is_file() for r in records for image in r.meta.get("images", []))


def test_openai_and_trl_parts_data_urls_and_files(tmp_path: Path) -> None:
    red = picture(tmp_path)
    data_url = "data:image/png;base64," + base64.b64encode(red.read_bytes()).decode()
    (record,) = load(tmp_path, [chat(
        {"type": "text", "text": "Compare "},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "text", "text": " and "},
        {"type": "image", "image": f"file://{red}"},
        {"type": "image_url", "image_url": "red.png"},
    )], media_dir=str(tmp_path))
    assert record.messages[0].content == "Compare <image> and <image><image>"
    assert record.meta["images"] == [data_url, str(red), str(red)]


@pytest.mark.parametrize(("row", "field", "problem"), [
    (chat({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}),
     "messages[0].content[0].image_url.url", "only local files and data: URLs"),
    (chat({"type": "image_url", "image_url": {"url": 7}}),
     "messages[0].content[0].image_url.url", "must be an image path or data: URL, got int"),
    (chat({"type": "input_audio", "input_audio": {}}), "messages[0].content[0]",
     "only text and image content parts are supported"),
    ({**chat({"type": "image", "image": "a.png"}), "images": ["b.png"]}, "images",
     "images are given both as content parts and in this column"),
])
def test_bad_image_parts_name_their_field(tmp_path: Path, row: dict[str, Any], field: str,
                                          problem: str) -> None:
    with pytest.raises(RecordError) as error:
        load(tmp_path, [row])
    assert error.value.field == field and problem in error.value.problem


def test_an_image_in_a_ranked_answer_is_refused(tmp_path: Path) -> None:
    row = {"messages": [{"role": "user", "content": "Draw it"}],
           "chosen": {"role": "assistant", "content": [{"type": "image", "image": "a.png"}]},
           "rejected": {"role": "assistant", "content": "No."}}
    with pytest.raises(RecordError, match=r"chosen\.content\[0\]: an image part in an "
                                          r"answer: images go in the prompt"):
        load(tmp_path, [row], ranking=True)


@pytest.mark.slow
def test_image_parts_train_the_tiny_vlm(tmp_path: Path) -> None:
    red = picture(tmp_path)
    blue = tmp_path / "blue.png"
    Image.new("RGB", (30, 30), (0, 0, 200)).save(blue)
    rows = [chat({"type": "image_url", "image_url": {"url": str(path)}},
                 {"type": "text", "text": "What colour is this?"}, answer=colour)
            for path, colour in ((red, "Red."), (blue, "Blue."))]
    (tmp_path / "parts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    output = tmp_path / "run"
    config = load_config(None, [
        "model.path=tiny://llava", f"data.train=[{tmp_path / 'parts.jsonl'}]",
        f"output.dir={output}", "training.per_device_train_batch_size=2",
        "training.max_steps=4", "training.learning_rate=3e-3", "training.logging_steps=1",
        "training.save_strategy=no", "training.lr_scheduler_type=constant"])
    train(config, Session())
    losses = [e["loss"] for e in map(json.loads, (output / "trainer_log.jsonl")
                                     .read_text().splitlines()) if "loss" in e]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
