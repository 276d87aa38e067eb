"""The embedded tiny models (``tiny://qwen2``, ``tiny://llama``).

They stand in for real checkpoints in every other test, so these tests pin what other
code relies on: offline deterministic builds, one tokenization whichever way the
tokenizer is loaded, the real chat-template strings, assistant masks, stop tokens,
and a cache that builds once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import plugtune.tiny as tiny
from plugtune.models import resolve_model_path
from plugtune.tiny import build as tiny_build

ARCHS = ("qwen2", "llama")  # the text models; the VLMs in test_vision.py, test_qwen2_vl.py

#: Strings that tend to break tokenizer load paths: digits, space runs, newlines, CJK,
#: emoji, combining accents (NFC), special tokens mid-text, code.
TEXTS = [
    "Hello, world! How are you today?",
    "The year 2024 had 366 days; 1234567890 and 3.14159 and -0.5e-3.",
    "two  spaces,   three,    four,\tand a tab",
    "   leading spaces",
    "trailing spaces   ",
    "line one\nline two\n\n\nafter blank lines\r\nwindows line",
    "你好，世界！今天天气很好，我们去公园散步吧。",
    "混合 mixed 文本 text 123 个",
    "def add(a: int, b: int) -> int:\n    return a + b  # sum\n",
    '{"key": [1, 2, 3], "nested": {"x": null}}',
    "emoji 🤗🚀👍🏽 and symbols ∑ ≤ → €",
    "cafe\u0301 vs café, ﬁ ligature, ＡＢＣ full width",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "",
]

SYSTEM, QUESTION, ANSWER = "You are a tiny test model.", "How are you?", "I am fine, thanks!"
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
    {"role": "assistant", "content": ANSWER},
]
#: Written out by hand from the real Qwen2.5-Instruct and Meta-Llama-3-Instruct formats.
EXPECTED_RENDER = {
    "qwen2": "<|im_start|>system\nYou are a tiny test model.<|im_end|>\n"
    "<|im_start|>user\nHow are you?<|im_end|>\n"
    "<|im_start|>assistant\nI am fine, thanks!<|im_end|>\n",
    "llama": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    "You are a tiny test model.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nI am fine, thanks!<|eot_id|>",
}
EXPECTED_GENERATION_PROMPT = {
    "qwen2": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n",
    "llama": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow are you?"
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
}
EXPECTED_TOKENS = {
    "qwen2": {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2},
    "llama": {
        "<|begin_of_text|>": 0,
        "<|start_header_id|>": 2,
        "<|end_header_id|>": 3,
        "<|eot_id|>": 4,
    },
}
END_OF_TURN = {"qwen2": "<|im_end|>", "llama": "<|eot_id|>"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private plugtune cache for the session, with the hub switched offline."""
    root = tmp_path_factory.mktemp("plugtune-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLUGTUNE_CACHE_DIR", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield root


@pytest.fixture(scope="session")
def network_attempts() -> list[object]:
    """Addresses anything tried to connect to while the tiny models were built."""
    return []


@pytest.fixture(scope="session", params=ARCHS)
def arch(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def model_dir(arch: str, cache_root: Path, network_attempts: list[object]) -> Path:
    """The cached build of ``arch``, built with every socket connection refused."""

    def refuse(_sock: socket.socket, address: object, *args: object) -> None:
        network_attempts.append(address)
        raise OSError(f"network access during the tiny build: {address}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        return tiny.tiny_model_path(f"{tiny.TINY_SCHEME}{arch}")


@pytest.fixture(scope="session")
def tokenizer(model_dir: Path) -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


@pytest.mark.slow
def test_builds_offline_into_the_cache(
    arch: str, model_dir: Path, cache_root: Path, network_attempts: list[object]
) -> None:
    assert network_attempts == []
    assert model_dir.parent == cache_root / "tiny"
    assert model_dir.name.startswith(f"{arch}-seed0-v{tiny.BUILDER_VERSION}-")
    for name in tiny_build.BUILD_FILES:
        assert (model_dir / name).is_file(), name
    assert not list(model_dir.glob("*.bin")), "weights must be safetensors only"


@pytest.mark.slow
def test_two_builds_are_byte_identical(arch: str, model_dir: Path, tmp_path: Path) -> None:
    again = tiny.build_tiny_model(arch, tmp_path / "again", seed=0)
    assert again == tmp_path / "again"
    for name in tiny_build.BUILD_FILES:
        assert _sha256(again / name) == _sha256(model_dir / name), name


@pytest.mark.slow
def test_seed_changes_weights_not_tokenizer(arch: str, model_dir: Path, tmp_path: Path) -> None:
    other = tiny.build_tiny_model(arch, tmp_path / "seed1", seed=1)
    assert _sha256(other / "model.safetensors") != _sha256(model_dir / "model.safetensors")
    assert _sha256(other / "tokenizer.json") == _sha256(model_dir / "tokenizer.json")


def test_model_loads_and_gives_finite_logits(arch: str, model_dir: Path, tokenizer: object) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert type(model).__name__ == {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}[arch]
    n_params = sum(p.numel() for p in model.parameters())
    assert 4_500_000 < n_params < 5_500_000
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.config.vocab_size == len(tokenizer) == 8000
    batch = tokenizer(["Hello world 你好 123", "x"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, batch["input_ids"].shape[1], 8000)
    assert torch.isfinite(logits).all()
    out = model.generate(**tokenizer("Hi", return_tensors="pt"), max_new_tokens=3)
    assert out.shape[1] <= len(tokenizer("Hi")["input_ids"]) + 3


def test_every_tokenizer_load_path_gives_the_same_ids(arch: str, model_dir: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    auto = AutoTokenizer.from_pretrained(model_dir)
    # qwen2: AutoTokenizer builds Qwen2Tokenizer, which rebuilds its own pipeline (the trap).
    expected_class = {"qwen2": "Qwen2Tokenizer", "llama": "TokenizersBackend"}[arch]
    assert type(auto).__name__ == expected_class
    fast = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    for add_special in (True, False):
        for text in TEXTS:
            ids = raw.encode(text, add_special_tokens=add_special).ids
            assert auto(text, add_special_tokens=add_special)["input_ids"] == ids, text
            assert fast(text, add_special_tokens=add_special)["input_ids"] == ids, text
    for token, token_id in EXPECTED_TOKENS[arch].items():
        assert auto.convert_tokens_to_ids(token) == token_id
        assert raw.encode(token, add_special_tokens=False).ids == [token_id]


def test_qwen2_pipeline_matches_the_one_transformers_rebuilds() -> None:
    from transformers.models.qwen2 import tokenization_qwen2

    from plugtune.tiny.architectures import QWEN2_SPLIT_REGEX

    assert QWEN2_SPLIT_REGEX == tokenization_qwen2.PRETOKENIZE_REGEX


def test_text_round_trips(arch: str, tokenizer: object) -> None:
    import unicodedata

    for text in TEXTS[:12]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        expected = unicodedata.normalize("NFC", text) if arch == "qwen2" else text
        assert tokenizer.decode(ids) == expected
    bos = [0] if arch == "llama" else []
    assert tokenizer("hi")["input_ids"][: len(bos)] == bos


def test_chat_template_renders_the_real_format(arch: str, tokenizer: object) -> None:
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert rendered == EXPECTED_RENDER[arch]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == EXPECTED_GENERATION_PROMPT[arch]


def test_assistant_mask_covers_content_and_end_of_turn(arch: str, tokenizer: object) -> None:
    second = "第二个回答：42"
    conversation = [
        *CONVERSATION,
        {"role": "user", "content": "再说一次"},
        {"role": "assistant", "content": second},
    ]
    encoded = tokenizer.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    assert len(ids) == len(mask)
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]  # one bos at most
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN[arch])
    expected: list[int] = []
    for content in (ANSWER, second):
        expected += tokenizer(content, add_special_tokens=False)["input_ids"] + [eot]
    assert [i for i, m in zip(ids, mask, strict=True) if m] == expected
    # The masked tokens are two contiguous runs, each ending on the end-of-turn token.
    runs = "".join(str(m) for m in mask).split("0")
    assert [len(r) for r in runs if r] == [
        expected.index(eot) + 1,
        len(expected) - expected.index(eot) - 1,
    ]


def test_eos_is_a_generation_stop_token(arch: str, model_dir: Path, tokenizer: object) -> None:
    from transformers import AutoConfig, GenerationConfig

    generation = GenerationConfig.from_pretrained(model_dir)
    assert tokenizer.eos_token == END_OF_TURN[arch]
    assert tokenizer.eos_token_id in generation.eos_token_id
    assert len(generation.eos_token_id) == 2
    assert generation.pad_token_id == tokenizer.pad_token_id
    assert AutoConfig.from_pretrained(model_dir).eos_token_id == tokenizer.eos_token_id


def test_cached_path_is_reused_without_building(
    model_dir: Path, arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_build(*args: object, **kwargs: object) -> Path:
        raise AssertionError("tiny_model_path rebuilt a cached model")

    mtime = (model_dir / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(tiny_build, "build_tiny_model", must_not_build)
    assert tiny.tiny_model_path(f"tiny://{arch}") == model_dir
    assert tiny.tiny_model_path(arch) == model_dir
    assert resolve_model_path(f"tiny://{arch}") == str(model_dir)
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == mtime


def test_resolve_leaves_other_references_alone(cache_root: Path) -> None:
    for ref in ("Qwen/Qwen2.5-0.5B-Instruct", "/models/llama", "./qwen2", "qwen2"):
        assert resolve_model_path(ref) == ref


@pytest.mark.slow
def test_losing_a_build_race_keeps_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_build = tiny_build.build_tiny_model

    def build_while_another_process_finishes(arch: str, out_dir: Path, *, seed: int) -> Path:
        monkeypatch.setattr(tiny_build, "build_tiny_model", real_build)
        winner = tiny.tiny_model_path(arch, cache_dir=tmp_path, seed=seed)  # "the other process"
        (winner / "winner.txt").write_text("first")
        return real_build(arch, out_dir, seed=seed)

    monkeypatch.setattr(tiny_build, "build_tiny_model", build_while_another_process_finishes)
    with caplog.at_level(logging.INFO, logger="plugtune.tiny"):
        path = tiny.tiny_model_path("tiny://qwen2", cache_dir=tmp_path, seed=3)
    assert (path / "winner.txt").read_text() == "first"
    assert path.name.startswith("qwen2-seed3-")
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == [path.name]  # no temp dirs
    assert f"building tiny://qwen2 into {path}" in caplog.text


def test_unknown_architecture_names_the_known_ones(tmp_path: Path) -> None:
    calls = [
        lambda: tiny.tiny_model_path("tiny://gpt5", cache_dir=tmp_path),
        lambda: tiny.tiny_model_path("mistral", cache_dir=tmp_path),
        lambda: tiny.build_tiny_model("gpt5", tmp_path / "out"),
        lambda: resolve_model_path("tiny://"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="unknown tiny architecture") as info:
            call()
        assert all(name in str(info.value) for name in tiny.ARCHITECTURES)
    assert not (tmp_path / "tiny").exists()
    assert (*ARCHS, "llava", "qwen2-vl") == tiny.ARCHITECTURES


def test_import_pulls_in_no_heavy_libraries() -> None:
    src = str(Path(tiny.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys, plugtune.tiny\n"
        "heavy = {'torch', 'transformers', 'tokenizers', 'safetensors'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
