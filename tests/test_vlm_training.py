"""Training a vision-language model (tiny://llava) on image conversations in
LLaMA-Factory's layout: what is trained, what the vision options freeze, and that the
trained adapter answers, serves and exports with images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from plugtune import Session, load_config
from plugtune.core.config import DataConfig, ModelConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message, RecordError
from plugtune.data import load_dataset
from plugtune.data.encoding import IGNORE_INDEX, encode_conversations
from plugtune.data.templates import resolve_template
from plugtune.data.tokenizer import load_tokenizer
from plugtune.inference import load_backend, predict
from plugtune.sdk.backends.vision import load_image
from plugtune.training import train, trainable_model
from plugtune.training.export import export_model
from plugtune.training.rows.images import (
    ImageCollator,
    check_expansion,
    image_processor_for,
    with_image_tokens,
)
from tests.conftest import FIXTURES, needs_fixtures, write_image_dataset
from tests.helpers import image_chat, last_logits, log_values

LLAMAFACTORY = FIXTURES / "llamafactory_data"
IMAGE_RUN = 4  # tokens per image: (28 // 14) ** 2 patches, the CLS token dropped
RECORDS_WITH_IMAGES = 6  # mllm_demo.json: 6 conversations, 7 images


def vlm_config(output: Path, *overrides: str) -> RunConfig:
    return load_config(None, [
        "model.path=tiny://llava",
        "data.train=[mllm_demo]",
        f"data.dataset_dir={LLAMAFACTORY}",
        f"output.dir={output}",
        "training.per_device_train_batch_size=6",
        "training.logging_steps=1",
        "training.save_strategy=no",
        *overrides,
    ])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained on mllm_demo's first two conversations (three images),
    the same batch every step."""
    output = tmp_path_factory.mktemp("vlm") / "run"
    train(vlm_config(output, "data.max_samples=2", "training.per_device_train_batch_size=2",
                     "training.max_steps=6", "training.learning_rate=3e-3",
                     "training.lr_scheduler_type=constant"), Session())
    return output


@pytest.fixture(scope="module")
def llava() -> tuple[Any, Any, Any]:
    """The tiny VLM's tokenizer, processor and chat template (the run's, template auto)."""
    tokenizer = load_tokenizer(ModelConfig(path="tiny://llava"))
    probe = Conversation((Message("user", "hi"),), meta={"images": ["x.png"]})
    processor = image_processor_for(ModelConfig(path="tiny://llava"), tokenizer, probe)
    return tokenizer, processor, resolve_template(Session(), None, tokenizer)


def mllm_demo() -> list[Conversation]:
    records, _ = load_dataset("mllm_demo", Session(),
                              config=DataConfig(dataset_dir=str(LLAMAFACTORY)))
    return records


@needs_fixtures
@pytest.mark.slow
def test_mllm_demo_trains_tiny_llava_and_the_loss_falls(trained: Path) -> None:
    from safetensors import safe_open

    losses = log_values(trained, "loss")
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.5, losses
    assert losses == sorted(losses, reverse=True), losses  # falling at every step
    assert (trained / "processor_config.json").is_file()  # the run's folder takes images
    with safe_open(trained / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert any("language_model" in name for name in names)
    # LLaMA-Factory's defaults: vision tower and projector frozen, no adapter there
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n in names)


@needs_fixtures
def test_image_tokens_and_prompts_are_masked_answers_trained_ids_as_the_processors(
    llava: tuple[Any, Any, Any],
) -> None:
    tokenizer, processor, template = llava
    conversations = with_image_tokens(mllm_demo(), processor)
    examples, _ = encode_conversations(conversations, template, tokenizer)
    collator = ImageCollator(processor, tokenizer.pad_token_id)
    rows, image_inputs = collator.expand(examples)
    assert len(rows) == RECORDS_WITH_IMAGES
    image_count = sum(len(c.meta["images"]) for c in conversations)
    assert image_inputs["pixel_values"].shape == (image_count, 3, 28, 28)
    for conversation, row in zip(conversations, rows, strict=True):
        segments = template.segments(conversation)
        text = "".join(segment.text for segment in segments)
        images = [load_image(path, origin="", index=0) for path in conversation.meta["images"]]
        expected = processor(text=[text], images=images, add_special_tokens=False)
        assert row.input_ids == list(expected["input_ids"][0]), conversation.origin
        at_images = [i for i, t in enumerate(row.input_ids) if t == collator.image_token_id]
        assert len(at_images) == IMAGE_RUN * len(images)
        assert all(row.labels[i] == IGNORE_INDEX for i in at_images)
        trained = [token for token, label in zip(row.input_ids, row.labels, strict=True)
                   if label != IGNORE_INDEX]
        answers = "".join(segment.text for segment in segments if segment.trainable)
        assert tokenizer.decode(trained) == answers  # prompts masked, every answer trained
        assert trained == tokenizer(answers, add_special_tokens=False)["input_ids"]
    batch = collator(examples)
    assert batch["labels"].shape == batch["input_ids"].shape
    assert torch.equal(batch["pixel_values"], image_inputs["pixel_values"])


def test_an_image_in_an_answer_is_not_trained(llava: tuple[Any, Any, Any],
                                              tmp_path: Path) -> None:
    tokenizer, processor, template = llava
    Image.new("RGB", (30, 30), (0, 90, 0)).save(tmp_path / "green.png")
    conversation = Conversation(
        (Message("user", "Draw a square."), Message("assistant", "Here: <image>")),
        meta={"images": [str(tmp_path / "green.png")]}, origin="drawn:1")
    examples, _ = encode_conversations(with_image_tokens([conversation], processor),
                                       template, tokenizer)
    collator = ImageCollator(processor, tokenizer.pad_token_id)
    row = collator.expand(examples)[0][0]
    at_images = [i for i, t in enumerate(row.input_ids) if t == collator.image_token_id]
    assert len(at_images) == IMAGE_RUN and {row.labels[i] for i in at_images} == {IGNORE_INDEX}
    assert row.labels[at_images[-1] + 1] != IGNORE_INDEX  # the answer goes on being trained


class ShortRuns(ImageCollator):
    """Expands each image into one token fewer than the processor does."""

    def _image_runs(self, inputs: Any, count: int) -> list[list[int]]:
        return [run[1:] for run in super()._image_runs(inputs, count)]


def test_an_expansion_other_than_the_processors_is_refused(llava: tuple[Any, Any, Any],
                                                           tmp_path: Path) -> None:
    tokenizer, processor, template = llava
    Image.new("RGB", (30, 30), (0, 0, 200)).save(tmp_path / "blue.png")
    conversation = with_image_tokens([Conversation(
        (Message("user", "<image>Colour?"), Message("assistant", "Blue.")),
        meta={"images": [str(tmp_path / "blue.png")]}, origin="colours:1")], processor)[0]
    check_expansion(conversation, template, tokenizer,
                    ImageCollator(processor, tokenizer.pad_token_id))
    with pytest.raises(ConfigError, match=r"colours:1: the model's processor expands images "
                                          r"into other tokens than plugtune does"):
        check_expansion(conversation, template, tokenizer,
                        ShortRuns(processor, tokenizer.pad_token_id))


def test_a_missing_or_corrupt_image_names_the_record_and_the_file(
    llava: tuple[Any, Any, Any], tmp_path: Path,
) -> None:
    tokenizer, processor, template = llava
    Image.new("RGB", (30, 30), (200, 0, 0)).save(tmp_path / "red.png")
    (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg")
    write_image_dataset(tmp_path, [["red.png"], ["gone.jpg"], ["bad.jpg"]])
    records, _ = load_dataset("mine", Session(), config=DataConfig(dataset_dir=str(tmp_path)))
    examples, _ = encode_conversations(with_image_tokens(records, processor), template,
                                       tokenizer)
    collator = ImageCollator(processor, tokenizer.pad_token_id)
    assert collator([examples[0]])["pixel_values"].shape[0] == 1
    with pytest.raises(RecordError) as missing:
        collator(examples[:2])  # images are read when their batch comes
    assert missing.value.origin == examples[1].origin and "d.json" in missing.value.origin
    assert f"no such image file {str(tmp_path / 'gone.jpg')!r}" in str(missing.value)
    with pytest.raises(RecordError) as corrupt:
        collator([examples[2]])
    assert corrupt.value.origin == examples[2].origin
    assert f"{str(tmp_path / 'bad.jpg')!r} is not a readable image" in str(corrupt.value)

    write_image_dataset(tmp_path, [["gone.jpg"]])  # a run stops before loading the model
    config = load_config(None, ["model.path=tiny://llava", "data.train=[mine]",
                                f"data.dataset_dir={tmp_path}", f"output.dir={tmp_path / 'o'}"])
    with pytest.raises(RecordError, match=r"d\.json.*images\[0\]: no such image file"):
        train(config, Session())


def answering_config(adapter: Path, output: Path) -> RunConfig:
    return RunConfig.model_validate({
        "model": {"path": "tiny://llava", "adapter": str(adapter)},
        "data": {"test": ["mllm_demo"], "dataset_dir": str(LLAMAFACTORY)},
        "backend": {"name": "transformers", "device": "cpu"},
        "generation": {"max_new_tokens": 6},
        "output": {"dir": str(output)},
    })


@needs_fixtures
@pytest.mark.slow
def test_the_trained_adapter_answers_through_predict_and_the_server_with_an_image(
    trained: Path, tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    session = Session()
    backend = load_backend(answering_config(trained, tmp_path / "out"), session)
    picture = LLAMAFACTORY / "mllm_demo_data" / "1.jpg"
    question = Conversation((Message("user", "<image>Who are they?"),),
                            meta={"images": [str(picture)]}, origin="asked")
    assert not torch.allclose(last_logits(backend, question), last_logits(backend, question,
                                                                          adapter=None))

    result = predict(answering_config(trained, tmp_path / "out"), session, backend=backend)
    prompts = [prediction.prompt for prediction in result.predictions]
    assert len(prompts) == RECORDS_WITH_IMAGES and all(p.meta["images"] for p in prompts)
    assert [p.prediction for p in result.predictions] == backend.generate(prompts)

    client = TestClient(create_app(backend, "tuned-llava"))
    response = client.post("/v1/chat/completions", json=image_chat(picture))
    assert response.status_code == 200, response.text
    expected = backend.generate([question])[0]
    assert response.json()["choices"][0]["message"]["content"] == expected


@needs_fixtures
@pytest.mark.slow
def test_export_keeps_the_processor_and_the_merged_vlm_answers_as_base_and_adapter(
    trained: Path, tmp_path: Path,
) -> None:
    from transformers import AutoProcessor

    target = export_model(answering_config(trained, tmp_path / "out"), Session(),
                          to=tmp_path / "merged")
    assert (target / "processor_config.json").is_file()
    assert type(AutoProcessor.from_pretrained(target)).__name__ == "LlavaProcessor"
    session = Session()
    adapted = load_backend(answering_config(trained, tmp_path / "out"), session)
    merged_config = answering_config(trained, tmp_path / "out").model_copy(
        update={"model": ModelConfig(path=str(target))})
    merged = load_backend(merged_config, session)
    assert merged.takes_images and type(merged.model).__name__ == "LlavaForConditionalGeneration"
    picture = LLAMAFACTORY / "mllm_demo_data" / "2.jpg"
    question = Conversation((Message("user", "<image>Who is he?"),),
                            meta={"images": [str(picture)]}, origin="asked")
    assert torch.allclose(last_logits(merged, question), last_logits(adapted, question),
                          atol=1e-4)


def trainable(tmp_path: Path, *overrides: str) -> set[str]:
    """Which parts of tiny://llava train under ``overrides``: vision_tower,
    multi_modal_projector and/or language_model."""
    config = load_config(None, ["model.path=tiny://llava", f"output.dir={tmp_path}",
                                *overrides])
    model = trainable_model(config, Session())
    parts = ("vision_tower", "multi_modal_projector", "language_model")
    names = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
    return {part for part in parts if any(f".{part}." in name for name in names)}


@pytest.mark.parametrize(("overrides", "parts"), [
    ([], {"language_model"}),
    (["peft.freeze_vision_tower=false"], {"language_model", "vision_tower"}),
    (["peft.freeze_multi_modal_projector=false"], {"language_model", "multi_modal_projector"}),
    (["peft.type=full"], {"language_model"}),
    (["peft.type=full", "peft.freeze_vision_tower=false"], {"language_model", "vision_tower"}),
    (["peft.type=full", "peft.train_mm_proj_only=true"], {"multi_modal_projector"}),
    (["peft.type=freeze", "peft.freeze_multi_modal_projector=false"],
     {"language_model", "multi_modal_projector"}),
], ids=["lora", "lora-tower", "lora-projector", "full", "full-tower", "full-projector-only",
        "freeze-projector"])
@pytest.mark.slow
def test_the_vision_options_choose_what_trains(tmp_path: Path, overrides: list[str],
                                               parts: set[str]) -> None:
    assert trainable(tmp_path, *overrides) == parts


def test_freeze_trains_the_language_models_last_layers_not_the_encoders(tmp_path: Path) -> None:
    config = load_config(None, ["model.path=tiny://llava", f"output.dir={tmp_path}",
                                "peft.type=freeze", "peft.trainable_layers=1"])
    names = {n for n, p in trainable_model(config, Session()).named_parameters()
             if p.requires_grad}
    assert names and all(n.startswith("model.language_model.layers.3.") for n in names)


@pytest.mark.parametrize(("model", "overrides", "message"), [
    ("tiny://llava", ["peft.train_mm_proj_only=true"],
     "peft.train_mm_proj_only: trains the projector in full; peft.type 'lora' cannot"),
    ("tiny://qwen2", ["peft.freeze_vision_tower=false"],
     "peft.freeze_vision_tower: the model has no vision tower"),
    ("tiny://qwen2", ["peft.type=full", "peft.train_mm_proj_only=true"],
     "peft.train_mm_proj_only: the model has no projector"),
])
def test_vision_options_a_model_cannot_follow_are_refused(tmp_path: Path, model: str,
                                                          overrides: list[str],
                                                          message: str) -> None:
    config = load_config(None, [f"model.path={model}", f"output.dir={tmp_path}", *overrides])
    with pytest.raises(ConfigError, match=message):
        trainable_model(config, Session())


@needs_fixtures
@pytest.mark.parametrize(("model", "overrides", "error", "message"), [
    ("tiny://llava", ["data.train=[mllm_video_demo]"], RecordError,
     r"videos: plugtune reads images only"),
    ("tiny://llava", ["data.train=[mllm_audio_demo]"], RecordError,
     r"audios: plugtune reads images only"),
    ("tiny://qwen2", [], ConfigError, r"images: model 'tiny://qwen2' takes no images"),
    ("tiny://llava", ["data.packing=true"], ConfigError, "rows with images are not packed"),
    ("tiny://llava", ["trainer=kto"], ConfigError, "images: trainer 'kto' trains on text only"),
    ("tiny://llava", ["trainer=grpo", "rewards=[{name: length, target: 5}]",
                      "training.per_device_train_batch_size=4"], ConfigError,
     "images: trainer 'grpo' trains on text only"),
], ids=["video", "audio", "text-model", "packing", "kto", "grpo"])
def test_what_image_training_refuses(tmp_path: Path, model: str, overrides: list[str],
                                     error: type[Exception], message: str) -> None:
    config = vlm_config(tmp_path / "run", f"model.path={model}", *overrides)
    with pytest.raises(error, match=message):
        train(config, Session())


@needs_fixtures
@pytest.mark.slow
def test_a_llamafactory_config_trains_the_vlm_with_its_vision_keys(tmp_path: Path) -> None:
    from safetensors import safe_open

    lf = {"model_name_or_path": "tiny://llava", "stage": "sft", "do_train": True,
          "finetuning_type": "lora", "freeze_vision_tower": False, "dataset": "mllm_demo",
          "dataset_dir": str(LLAMAFACTORY), "max_samples": 2, "cutoff_len": 512,
          "per_device_train_batch_size": 2, "max_steps": 1, "save_strategy": "no",
          "output_dir": str(tmp_path / "run"), "overwrite_output_dir": True}
    path = tmp_path / "lf.yaml"
    path.write_text(json.dumps(lf))  # JSON is YAML
    train(load_config(path), Session())
    with safe_open(tmp_path / "run" / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert any("vision_tower" in name for name in names)  # the encoder got adapters
    assert not any("multi_modal_projector" in name for name in names)
