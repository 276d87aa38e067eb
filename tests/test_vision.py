"""Images for the transformers backend, on the offline tiny VLM tiny://llava."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from plugtune import Session
from plugtune.core.config import DataConfig, GenerationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message, RecordError
from plugtune.data import load_dataset
from plugtune.inference import load_backend
from plugtune.inference.predictor import Predictor
from plugtune.tiny import build_tiny_model, tiny_model_path
from tests.conftest import FIXTURES, needs_fixtures, write_image_dataset
from tests.helpers import last_logits

GREEDY = GenerationConfig(max_new_tokens=6)
LLAMAFACTORY = FIXTURES / "llamafactory_data"


def backend_for(model: str):
    config = RunConfig.model_validate(
        {"model": {"path": model}, "backend": {"name": "transformers", "device": "cpu"},
         "generation": {"max_new_tokens": 6}}
    )
    return load_backend(config, Session())


@pytest.fixture(scope="module")
def vlm():
    return backend_for("tiny://llava")


@pytest.fixture(scope="module")
def text_model():
    return backend_for("tiny://qwen2")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("images")
    paths = {"red": folder / "red.png", "noise": folder / "noise.png"}
    Image.new("RGB", (40, 30), (255, 0, 0)).save(paths["red"])
    Image.effect_noise((64, 48), 90).convert("RGB").save(paths["noise"])
    return {name: str(path) for name, path in paths.items()}


def ask(text: str, *pictures: str) -> Conversation:
    meta = {"images": list(pictures)} if pictures else {}
    return Conversation((Message("user", text),), meta=meta, origin=f"test:{text[:10]}")


@pytest.mark.slow
def test_the_tiny_vlm_builds_deterministically_and_loads_with_auto_processor(tmp_path):
    from transformers import AutoProcessor

    cached = tiny_model_path("tiny://llava")
    rebuilt = build_tiny_model("llava", tmp_path)
    for name in ("model.safetensors", "processor_config.json", "tokenizer.json"):
        assert (cached / name).read_bytes() == (rebuilt / name).read_bytes(), name
    processor = AutoProcessor.from_pretrained(cached)
    assert type(processor).__name__ == "LlavaProcessor"
    assert processor.image_processor is not None and processor.image_token == "<image>"
    config = json.loads((cached / "config.json").read_text())
    assert config["image_token_index"] == processor.tokenizer.convert_tokens_to_ids("<image>")


def test_an_image_reaches_the_model(vlm, images):
    red, noise = ask("<image>What is this?", images["red"]), ask("<image>What is this?",
                                                                 images["noise"])
    inputs = vlm._encode([vlm._prompt(red)])
    image_id = vlm.processor.tokenizer.convert_tokens_to_ids("<image>")
    assert "pixel_values" in inputs
    assert (inputs["input_ids"] == image_id).sum() == 4  # (28 // 14) ** 2 patches
    assert torch.equal(last_logits(vlm, red), last_logits(vlm, red))
    assert not torch.allclose(last_logits(vlm, red), last_logits(vlm, noise))
    answer = vlm.generate([red], GREEDY)[0]
    assert answer and answer == vlm.generate([red], GREEDY)[0]


def test_without_a_placeholder_the_image_goes_before_the_first_user_turn(vlm, images):
    placed = last_logits(vlm, ask("<image>What is this?", images["noise"]))
    assert torch.equal(last_logits(vlm, ask("What is this?", images["noise"])), placed)
    with pytest.raises(RecordError, match=r"test:<image>Two: images: 2 image\(s\) but 1"):
        vlm.generate([ask("<image>Two?", images["red"], images["noise"])], GREEDY)


def test_a_batch_mixing_images_and_text_answers_as_one_by_one(vlm, images):
    conversations = [
        ask("<image>Describe the picture.", images["red"]),
        ask("hi"),
        ask("Compare <image> and <image>", images["noise"], images["red"]),
    ]
    one_by_one = [vlm.generate([conversation], GREEDY)[0] for conversation in conversations]
    assert vlm.generate(conversations, GREEDY) == one_by_one
    streamed = "".join(vlm.stream(conversations[0], GREEDY))
    assert streamed == one_by_one[0]


@pytest.mark.parametrize("which", ["vlm", "text_model"])
def test_text_only_conversations_take_the_plain_text_path(request, which):
    backend = request.getfixturevalue(which)
    conversation = ask("Name the plugin kinds of plugtune.")
    inputs = backend._encode([backend._prompt(conversation)])
    assert "pixel_values" not in inputs
    prompt = backend.template.render(conversation, add_generation_prompt=True)
    ids = backend.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        output = backend._model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
            do_sample=False, eos_token_id=backend.stop_ids,
            pad_token_id=backend.tokenizer.pad_token_id,
        )
    expected = backend.tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True)
    assert backend.generate([conversation], GREEDY)[0] == expected


def test_images_for_a_model_without_an_image_processor_are_a_config_error(text_model, images):
    assert not text_model.takes_images
    with pytest.raises(ConfigError, match=r"test:<image>Wha: images: model 'tiny://qwen2' "
                                          r"takes no images"):
        text_model.generate([ask("<image>What?", images["red"])], GREEDY)


def test_the_predictor_takes_images(vlm, images):
    predictor = Predictor("tiny://llava", backend={"name": "transformers", "device": "cpu"},
                          max_new_tokens=6)
    question = "<image>What is this?"
    assert predictor(question, images=[images["noise"]]) == vlm.generate(
        [ask(question, images["noise"])], GREEDY)[0]
    assert "".join(predictor.stream(question, images=[images["noise"]])) == predictor(
        question, images=[images["noise"]])
    with pytest.raises(TypeError, match="single question"):
        predictor(["a", "b"], images=[images["red"]])


def data_url(path: str) -> str:
    buffer = io.BytesIO(Path(path).read_bytes())
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_request(url: str, text: str = "What is this?") -> dict:
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]
    return {"messages": [{"role": "user", "content": parts}], "max_tokens": 6}


def test_the_server_takes_base64_image_parts_when_the_model_takes_images(vlm, text_model,
                                                                         images):
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    client = TestClient(create_app(vlm, "tiny-llava"))
    response = client.post("/v1/chat/completions", json=image_request(data_url(images["noise"])))
    assert response.status_code == 200, response.text
    expected = vlm.generate([ask("<image>What is this?", images["noise"])], GREEDY)[0]
    assert response.json()["choices"][0]["message"]["content"] == expected

    for url, message in [
        ("https://example.com/cat.png", "only base64 data: URLs"),
        ("/etc/passwd", "only base64 data: URLs"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "not a readable"),
    ]:
        response = client.post("/v1/chat/completions", json=image_request(url))
        assert response.status_code == 400, url
        assert "messages[0].content[0].image_url.url" in response.json()["error"]["message"]
        assert message in response.json()["error"]["message"]

    text_client = TestClient(create_app(text_model, "tiny-qwen2"))
    response = text_client.post("/v1/chat/completions",
                                json=image_request(data_url(images["red"])))
    assert response.status_code == 400
    assert "this model takes no images" in response.json()["error"]["message"]


@needs_fixtures
def test_the_mllm_demo_loads_with_resolved_paths_and_prompts_the_vlm(vlm):
    records, _ = load_dataset("mllm_demo", Session(),
                              config=DataConfig(dataset_dir=str(LLAMAFACTORY)))
    paths = [path for record in records for path in record.meta["images"]]
    assert paths and all(Path(path).is_file() for path in paths)
    assert all(Path(path).is_relative_to(LLAMAFACTORY / "mllm_demo_data") for path in paths)
    prompts = [record.split_last_answer()[0] for record in records]
    answers = vlm.generate(prompts, GREEDY)
    assert len(answers) == len(records) and all(isinstance(a, str) for a in answers)


def test_a_missing_image_file_names_file_record_and_field(vlm, tmp_path):
    write_image_dataset(tmp_path, [["gone.jpg"]])
    records, _ = load_dataset("mine", Session(), config=DataConfig(dataset_dir=str(tmp_path)))
    assert records[0].meta["images"] == [str(tmp_path / "gone.jpg")]
    with pytest.raises(RecordError) as caught:
        vlm.generate([records[0].split_last_answer()[0]], GREEDY)
    assert "d.json" in str(caught.value) and "images[0]" in str(caught.value)
    assert "no such image file" in str(caught.value)
