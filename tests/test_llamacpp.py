"""llama.cpp on plugtune's GGUF files (the ``llamacpp`` backend, llama-cpp-python):
tokenization equal to transformers', the f32 GGUF's greedy answers equal to the
transformers backend's, a q4_k_m file that loads and answers, a GGUF LoRA on the base
GGUF answering as the merged model, and ``predict`` / ``serve`` through it.

llama-cpp-python is a source build (``make llamacpp``, which ``make test`` runs); without
it these tests skip here and fail on CI.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message
from plugtune.deploy.export import export_model
from plugtune.deploy.gguf_export import GGUFRequest, export_gguf
from plugtune.sdk.backends.requests import GenerationRequest
from plugtune.sdk.cli import CliState
from tests.adapters import random_lora
from tests.conftest import REPO, needs
from tests.serving import serving

pytestmark = needs(importlib.util.find_spec("llama_cpp") is not None,
                   "llama-cpp-python (make llamacpp)")
CORPUS = ("Hello, world!", "  leading spaces\tand tabs\n\nnew lines", "你好，世界！今天天气很好。",
          "Mixed 中英文 text with numbers 12345 and émojis 🚀", "<|im_start|>user\nHi<|im_end|>")
CHATS = [Conversation((Message("user", text),)) for text in
         ("Say something nice.", "今天是星期几？", "Count: 1, 2, 3")]
GREEDY = {"max_new_tokens": 12, "temperature": 0.0}


class Exported:
    """One tiny run (a random LoRA) as merged safetensors and as GGUF files."""

    def __init__(self, arch: str, root: Path) -> None:
        run_dir = random_lora(f"tiny://{arch}", root / "run", std=0.3)
        self.config = RunConfig.model_validate(
            {"model": {"path": f"tiny://{arch}"}, "output": {"dir": str(run_dir)},
             "generation": GREEDY})
        self.merged = export_model(self.config, Session(), to=root / "merged")
        self.f32 = export_gguf(self.config, Session(), GGUFRequest(quant="f32"),
                               to=root / "f32") / "model-f32.gguf"

    def backend(self, name: str, model: str | Path, **options: Any) -> Any:
        config = self.config.model_copy(update={
            "model": self.config.model.model_copy(update={"path": str(model)}),
            "backend": {"name": name, **options}})
        session = Session()
        backend = session.build("backends", config.backend)
        backend.load(config, session)
        return backend


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return Exported(request.param, tmp_path_factory.mktemp(request.param))


@pytest.mark.slow
def test_tokenization_equals_transformers(exported: Exported) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(exported.merged)
    gguf = exported.backend("llamacpp", exported.f32).tokenizer
    for text in CORPUS:
        assert gguf.encode(text) == tokenizer.encode(text, add_special_tokens=False), text
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert gguf.decode(ids, skip_special_tokens=False) == tokenizer.decode(ids)


@pytest.mark.slow
def test_f32_greedy_answers_equal_the_transformers_backend(exported: Exported) -> None:
    llama = exported.backend("llamacpp", exported.f32)
    reference = exported.backend("transformers", exported.merged, device="cpu")
    answers = llama.generate(CHATS)
    assert answers == reference.generate(CHATS)
    assert [a.tokens for a in answers] == [12, 12, 12]
    assert "".join(llama.stream(CHATS[0])) == answers[0]


@pytest.mark.slow
def test_a_request_stops_alone_and_logprobs_are_the_models(exported: Exported) -> None:
    llama = exported.backend("llamacpp", exported.f32)
    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            first.cancel("the client left")

    first = GenerationRequest(CHATS[0], on_piece=stop_after_two)
    second = GenerationRequest(CHATS[1], logprobs=3)
    stopped, whole = llama.answer_requests([first, second])
    assert stopped.finish_reason == "abort" and stopped == "".join(seen)
    assert whole.finish_reason == "length" and len(whole.logprobs) == whole.tokens == 12
    for scored in whole.logprobs:  # greedy: the chosen token is the likeliest
        assert scored.top[0] == (scored.token, scored.logprob) and scored.logprob < 0
        assert [p for _, p in scored.top] == sorted((p for _, p in scored.top), reverse=True)


@pytest.mark.slow
def test_q4_k_m_loads_and_answers(exported: Exported, tmp_path: Path) -> None:
    folder = export_gguf(exported.config, Session(), GGUFRequest(quant="q4_k_m"),
                         to=tmp_path / "q4")
    llama = exported.backend("llamacpp", folder)
    from gguf import GGUFReader

    assert GGUFReader(folder / "model-q4_k_m.gguf").fields["general.file_type"].contents() == 15
    assert (folder / "model-q4_k_m.gguf").stat().st_size < 0.4 * exported.f32.stat().st_size
    answers = llama.generate(CHATS)
    assert all(answer.tokens > 0 for answer in answers)


@pytest.mark.slow
def test_the_gguf_lora_on_the_base_gguf_answers_as_the_merged_model(
        exported: Exported, tmp_path: Path) -> None:
    base_config = exported.config.model_copy(update={"output": exported.config.output
                                                     .model_copy(update={"dir": str(tmp_path)})})
    base = tmp_path / "base.gguf"
    from plugtune.deploy.gguf import convert_model
    from plugtune.models.sources import resolve_model_path

    convert_model(Path(resolve_model_path(base_config.model.path)), base, "f32", metadata={})
    lora = export_gguf(exported.config, Session(), GGUFRequest(quant="f32", lora=True),
                       to=tmp_path / "lora") / "adapter-f32.gguf"
    with_lora = exported.backend("llamacpp", base, lora_file=str(lora))
    merged = exported.backend("llamacpp", exported.f32)
    assert with_lora.generate(CHATS) == merged.generate(CHATS)
    assert exported.backend("llamacpp", base).generate(CHATS) != merged.generate(CHATS)
    with pytest.raises(ConfigError, match="loaded with the LoRA 'default'"):
        with_lora.use_adapter(None)


@pytest.mark.parametrize("exported", ["qwen2"], indirect=True)
@pytest.mark.slow
def test_predict_and_serve_answer_through_llamacpp(exported: Exported, tmp_path: Path) -> None:
    from openai import OpenAI

    config = {"model": {"path": str(exported.f32.parent)}, "backend": "llamacpp",
              "generation": GREEDY, "output": {"dir": str(tmp_path / "out")},
              "data": {"test": [str(REPO / "examples" / "data" / "tiny_alpaca.jsonl")]}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["predict", str(path), "--limit", "2"], obj=CliState())
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "generated_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(row["predict"] for row in rows)
    expected = exported.backend("llamacpp", exported.f32).generate(CHATS[:1])[0]
    from plugtune import Predictor

    ask = Predictor(str(exported.f32), backend="llamacpp", **GREEDY)
    assert ask(CHATS[0].messages[0].content) == expected
    with serving(tmp_path, config) as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="none")
        reply = client.chat.completions.create(
            model=str(exported.f32.parent),
            messages=[{"role": "user", "content": CHATS[0].messages[0].content}],
            max_tokens=12, temperature=0)
        assert reply.choices[0].message.content == expected
        stream = client.chat.completions.create(
            model=str(exported.f32.parent), messages=[{"role": "user", "content": "Hi"}],
            max_tokens=5, temperature=0, stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream
                       if chunk.choices)
