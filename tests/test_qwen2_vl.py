"""A second vision-language family, Qwen2-VL (tiny://qwen2-vl): an image prompt with
delimiters, a token count that depends on the image's size, multimodal RoPE positions
(``mm_token_type_ids``), and a processor that transformers cannot build here whole
(its video half needs torchvision) — trained on LLaMA-Factory's mllm_demo, answered
through predict and the server, exported with its processor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from plugtune import Session, load_config
from plugtune.core.config import DataConfig, ModelConfig, RunConfig
from plugtune.core.records import Conversation, Message
from plugtune.data import load_dataset
from plugtune.data.encoding import IGNORE_INDEX, encode_conversations
from plugtune.data.templates import resolve_template, tokenizer_and_template
from plugtune.data.tokenizer import load_tokenizer
from plugtune.inference import load_backend, predict
from plugtune.sdk.backends import processors
from plugtune.sdk.backends.vision import fit_pixels, image_prompt, load_image
from plugtune.tiny import tiny_model_path
from plugtune.training import train, trainable_model
from plugtune.training.export import export_model
from plugtune.training.rows.images import ImageCollator, image_processor_for, with_image_tokens
from tests.conftest import FIXTURES, needs_fixtures
from tests.helpers import image_chat, last_logits

LLAMAFACTORY = FIXTURES / "llamafactory_data"
MODEL = "tiny://qwen2-vl"
PROMPT = "<|vision_start|><|image_pad|><|vision_end|>"
# the processor's pixel budget is 56x56: at most 4x4 patches of 14, merged 2x2 into tokens
MAX_PATCHES = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained on mllm_demo's first two conversations, the same batch
    every step."""
    output = tmp_path_factory.mktemp("qwen2vl") / "run"
    config = load_config(None, [
        f"model.path={MODEL}", "data.train=[mllm_demo]", f"data.dataset_dir={LLAMAFACTORY}",
        f"output.dir={output}", "data.max_samples=2", "training.per_device_train_batch_size=2",
        "training.max_steps=6", "training.learning_rate=3e-3",
        "training.lr_scheduler_type=constant", "training.logging_steps=1",
        "training.save_strategy=no"])
    train(config, Session())
    return output


@pytest.fixture(scope="module")
def qwen2_vl() -> tuple[Any, Any, Any]:
    """The tiny Qwen2-VL's tokenizer, processor and chat template."""
    tokenizer = load_tokenizer(ModelConfig(path=MODEL))
    probe = Conversation((Message("user", "hi"),), meta={"images": ["x.png"]})
    processor = image_processor_for(ModelConfig(path=MODEL), tokenizer, probe)
    return tokenizer, processor, resolve_template(Session(), None, tokenizer)


@pytest.mark.slow
def test_the_processor_is_qwen2_vls_own_built_without_its_video_half() -> None:
    from transformers import AutoProcessor, Qwen2VLProcessor

    path = str(tiny_model_path(MODEL))
    whole = processors.torchvision_usable()  # not on these machines: a CPU torch
    if not whole:
        with pytest.raises(ImportError, match="[Tt]orchvision"):
            AutoProcessor.from_pretrained(path)
    processor = processors.load_processor(path)
    assert isinstance(processor, Qwen2VLProcessor)
    assert (processor.video_processor is not None) == whole
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert image_prompt(processor) == PROMPT  # the delimiters from config.json
    saved = processor.to_dict()
    assert saved["video_processor"]["video_processor_type"] == "Qwen2VLVideoProcessor"


def test_a_processor_that_fails_for_another_reason_is_not_patched_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a usable torchvision a failure is real: it is raised, not worked around."""
    from transformers import AutoProcessor

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("a missing dependency of the processor")

    monkeypatch.setattr(AutoProcessor, "from_pretrained", broken)
    monkeypatch.setattr(processors, "torchvision_usable", lambda: True)
    with pytest.raises(ImportError, match="a missing dependency of the processor"):
        processors.load_processor(str(tiny_model_path(MODEL)))


@needs_fixtures
def test_image_prompts_are_delimited_expanded_by_size_masked_and_typed(
    qwen2_vl: tuple[Any, Any, Any], tmp_path: Path,
) -> None:
    tokenizer, processor, template = qwen2_vl
    records, _ = load_dataset("mllm_demo", Session(),
                              config=DataConfig(dataset_dir=str(LLAMAFACTORY)))
    conversations = with_image_tokens(records, processor)
    assert all(PROMPT in c.messages[0].content for c in conversations)
    examples, _ = encode_conversations(conversations, template, tokenizer)
    collator = ImageCollator(processor, tokenizer.pad_token_id)
    rows, image_inputs = collator.expand(examples)
    grids = image_inputs["image_grid_thw"]
    assert len(grids) == sum(len(c.meta["images"]) for c in conversations)
    assert all(t == 1 and 0 < h * w <= MAX_PATCHES for t, h, w in grids.tolist())
    tokens_per_image = iter((grids.prod(-1) // 4).tolist())
    for conversation, row in zip(conversations, rows, strict=True):
        segments = template.segments(conversation)
        text = "".join(segment.text for segment in segments)
        images = [load_image(p, origin="", index=0) for p in conversation.meta["images"]]
        expected = processor(text=[text], images=images, add_special_tokens=False)
        assert row.input_ids == list(expected["input_ids"][0]), conversation.origin
        at_images = [i for i, t in enumerate(row.input_ids) if t == collator.image_token_id]
        assert len(at_images) == sum(next(tokens_per_image) for _ in images)
        assert all(row.labels[i] == IGNORE_INDEX for i in at_images)
        trained = [t for t, label in zip(row.input_ids, row.labels, strict=True)
                   if label != IGNORE_INDEX]
        answers = "".join(segment.text for segment in segments if segment.trainable)
        assert trained == tokenizer(answers, add_special_tokens=False)["input_ids"]
    batch = collator(examples[:3])
    is_image = batch["input_ids"] == collator.image_token_id
    assert torch.equal(batch["mm_token_type_ids"], is_image.long())
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())

    # the number of tokens follows the image's size (the processor's pixel budget)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (200, 20), (0, 0, 0)).save(wide)
    conversation = with_image_tokens([Conversation(
        (Message("user", "<image>What?"), Message("assistant", "Black.")),
        meta={"images": [str(wide)]}, origin="wide:1")], processor)
    example = encode_conversations(conversation, template, tokenizer)[0]
    row, inputs = collator.expand(example)
    t, h, w = inputs["image_grid_thw"][0].tolist()
    assert (t, h) == (1, 2) and w > h  # a wide image: a wide grid
    assert row[0].input_ids.count(collator.image_token_id) == h * w // 4


@needs_fixtures
@pytest.mark.slow
def test_mllm_demo_trains_tiny_qwen2_vl_and_the_loss_falls(trained: Path) -> None:
    from safetensors import safe_open

    lines = (trained / "trainer_log.jsonl").read_text().splitlines()
    losses = [entry["loss"] for entry in map(json.loads, lines) if "loss" in entry]
    assert len(losses) == 6 and losses == sorted(losses, reverse=True), losses
    assert losses[-1] < losses[0] - 0.5, losses
    saved = json.loads((trained / "processor_config.json").read_text())
    assert saved["processor_class"] == "Qwen2VLProcessor" and "video_processor" in saved
    with safe_open(trained / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert any("language_model" in name for name in names)
    assert not any(".visual." in name for name in names)  # tower and merger frozen


def answering_config(adapter: Path, output: Path) -> RunConfig:
    return RunConfig.model_validate({
        "model": {"path": MODEL, "adapter": str(adapter)},
        "data": {"test": ["mllm_demo"], "dataset_dir": str(LLAMAFACTORY)},
        "backend": {"name": "transformers", "device": "cpu"},
        "generation": {"max_new_tokens": 6},
        "output": {"dir": str(output)},
    })


@needs_fixtures
@pytest.mark.slow
def test_the_trained_adapter_answers_with_an_image_and_exports_with_its_processor(
    trained: Path, tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    session = Session()
    backend = load_backend(answering_config(trained, tmp_path / "out"), session)
    picture = LLAMAFACTORY / "mllm_demo_data" / "1.jpg"
    question = Conversation((Message("user", "<image>Who are they?"),),
                            meta={"images": [str(picture)]}, origin="asked")
    adapted = last_logits(backend, question)
    assert not torch.allclose(adapted, last_logits(backend, question, adapter=None))
    other = Conversation(question.messages, meta={"images": [str(picture.with_name("2.jpg"))]})
    assert not torch.allclose(adapted, last_logits(backend, other))  # the image is seen

    result = predict(answering_config(trained, tmp_path / "out"), session, backend=backend)
    prompts = [prediction.prompt for prediction in result.predictions]
    assert [p.prediction for p in result.predictions] == backend.generate(prompts)

    response = TestClient(create_app(backend, "tuned")).post("/v1/chat/completions",
                                                             json=image_chat(picture))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == backend.generate([question])[0]

    target = export_model(answering_config(trained, tmp_path / "out"), Session(),
                          to=tmp_path / "merged")
    saved = json.loads((target / "processor_config.json").read_text())
    assert saved["processor_class"] == "Qwen2VLProcessor" and "video_processor" in saved
    merged = load_backend(answering_config(trained, tmp_path / "out").model_copy(
        update={"model": ModelConfig(path=str(target))}), session)
    assert type(merged.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert torch.allclose(last_logits(merged, question), adapted, atol=1e-4)


@pytest.mark.parametrize(("overrides", "trains"), [
    ([], set()),
    (["peft.freeze_multi_modal_projector=false"], {"merger"}),
    (["peft.freeze_vision_tower=false"], {"tower"}),
    (["peft.type=full", "peft.train_mm_proj_only=true"], {"merger"}),
], ids=["lora", "lora-merger", "lora-tower", "full-merger-only"])
@pytest.mark.slow
def test_the_vision_options_find_qwen2_vls_tower_and_merger(
    tmp_path: Path, overrides: list[str], trains: set[str],
) -> None:
    """Qwen2-VL's projector (``visual.merger``) sits inside its tower (``visual``)."""
    config = load_config(None, [f"model.path={MODEL}", f"output.dir={tmp_path}", *overrides])
    names = [n for n, p in trainable_model(config, Session()).named_parameters()
             if p.requires_grad and ".visual." in n]
    found = {"merger" if ".visual.merger." in n else "tower" for n in names}
    assert found == trains


def test_images_are_scaled_to_the_pixel_budget_as_llamafactory_does() -> None:
    """sqrt(262144 / 500000) = 0.7241: 1000x500 -> 724x362; sqrt(1024 / 200) = 2.263:
    20x10 -> 45x22 (each side rounded down); inside the budget: unchanged."""
    big, small = Image.new("RGB", (1000, 500)), Image.new("RGB", (20, 10))
    assert fit_pixels(big, 262144, 1024).size == (724, 362)
    assert fit_pixels(small, 262144, 1024).size == (45, 22)
    assert fit_pixels(big, None, None) is big and fit_pixels(small, None, 100) is small


def test_the_collator_hands_the_processor_images_within_the_budget(
    qwen2_vl: tuple[Any, Any, Any], tmp_path: Path,
) -> None:
    tokenizer, processor, template = qwen2_vl
    noise = tmp_path / "noise.png"
    Image.effect_noise((120, 120), 90).convert("RGB").save(noise)
    conversation = with_image_tokens([Conversation(
        (Message("user", "<image>What?"), Message("assistant", "Noise.")),
        meta={"images": [str(noise)]}, origin="noise:1")], processor)
    example = encode_conversations(conversation, template, tokenizer)[0]
    as_is = ImageCollator(processor, tokenizer.pad_token_id)(example)["pixel_values"]
    budget = ImageCollator(processor, tokenizer.pad_token_id, max_pixels=30 * 30)
    scaled = budget(example)["pixel_values"]
    image = fit_pixels(load_image(str(noise), origin="", index=0), 30 * 30, None)
    assert image.size == (30, 30) and not torch.allclose(as_is, scaled)
    assert torch.equal(scaled, processor.image_processor([image], return_tensors="pt")
                       ["pixel_values"])


@needs_fixtures
@pytest.mark.slow
def test_a_llamafactory_qwen2_vl_config_trains_the_tiny_qwen2_vl(tmp_path: Path) -> None:
    lf = {"model_name_or_path": MODEL, "stage": "sft", "do_train": True,
          "finetuning_type": "lora", "template": "qwen2_vl", "image_max_pixels": 262144,
          "video_max_pixels": 16384, "dataset": "mllm_demo", "dataset_dir": str(LLAMAFACTORY),
          "max_samples": 2, "cutoff_len": 512, "per_device_train_batch_size": 2,
          "max_steps": 1, "save_strategy": "no", "output_dir": str(tmp_path / "run"),
          "overwrite_output_dir": True}
    path = tmp_path / "lf.yaml"
    path.write_text(json.dumps(lf))  # JSON is YAML
    config = load_config(path)
    assert (config.template.name, config.data.image_max_pixels) == ("qwen2", 262144)
    metrics = train(config, Session())
    assert metrics["train_loss"] > 0 and (tmp_path / "run" / "adapter_model.safetensors").is_file()
    _, template = tokenizer_and_template(config, Session())  # qwen2_vl's default system
    text = template.render(Conversation((Message("user", "Hi"),)), add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


@needs_fixtures
@pytest.mark.slow
def test_qlora_trains_the_vlm_on_its_4_bit_language_model(tmp_path: Path) -> None:
    """bitsandbytes quantizes on the CPU too: the language model's linear layers load in
    4 bits, adapters train over them, and the loss falls on a repeated batch."""
    import bitsandbytes as bnb

    overrides = [f"model.path={MODEL}", f"output.dir={tmp_path / 'run'}", "peft.type=qlora"]
    model = trainable_model(load_config(None, overrides), Session())
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any(".language_model." in name for name in quantized)
    config = load_config(None, [
        *overrides, "data.train=[mllm_demo]", f"data.dataset_dir={LLAMAFACTORY}",
        "data.max_samples=2", "training.per_device_train_batch_size=2",
        "training.max_steps=4", "training.learning_rate=3e-3",
        "training.lr_scheduler_type=constant", "training.logging_steps=1",
        "training.save_strategy=no"])
    train(config, Session())
    lines = (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()
    losses = [entry["loss"] for entry in map(json.loads, lines) if "loss" in entry]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.3, losses
