"""Using a run from the web UI's backend: chat with RAG over a real chromadb store (the
packaged MiniLM embeds, nothing is downloaded), and export in each registered format
with its options, GGUF through llama.cpp's converter end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from plugtune import Session, hookimpl
from tests.conftest import converter_present, needs_gguf_converter
from tests.helpers import wait_for
from tests.webui_helpers import kill_jobs, rag_store, tiny_config

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from plugtune.webui.app import create_app
from plugtune.webui.processes import Job
from plugtune.webui.routes import SOURCES_HEADER


@pytest.fixture
def runs(tmp_path: Path):
    folder = tmp_path / "runs"
    yield folder
    kill_jobs(folder)


class Recorded:
    """A backend that answers "ok" and keeps the conversations it was asked: what
    reached the prompt is then plain to see (the model itself is not under test)."""

    asked: ClassVar[list[list[dict[str, Any]]]] = []

    def load(self, config: Any, session: Any) -> None:
        pass

    def stream(self, conversation: Any, params: Any = None) -> Any:
        self.asked.append(conversation.to_openai())
        yield "ok"


class RecordedBackend:
    @hookimpl
    def register_backends(self, register):
        register("recorded", Recorded)


def finished_run(runs: Path, name: str, **config: Any) -> Path:
    """A run folder as training leaves it, for tests that only use its adapter."""
    folder = runs / name
    folder.mkdir(parents=True)
    (folder / "run_config.yaml").write_text(yaml.safe_dump({**tiny_config(), **config}))
    (folder / "adapter_config.json").write_text("{}")
    return folder


def test_chat_with_rag_puts_the_stores_passages_in_the_prompt_and_names_them(tmp_path, runs):
    db = rag_store(tmp_path / "store")
    finished_run(runs, "rag", backend="recorded", retriever={"name": "chroma", "db": str(db)})
    client = TestClient(create_app(runs, session=Session(plugins=[RecordedBackend()])))
    assert client.get("/api/runs/rag").json()["has_retriever"] is True
    Recorded.asked.clear()

    answer = client.post("/api/runs/rag/chat", json={"message": "Which volcano is the largest?",
                                                     "rag": True})
    assert answer.status_code == 200 and answer.text == "ok"
    [source] = json.loads(answer.headers[SOURCES_HEADER])  # bread is too far to be used
    assert source["source"].endswith("volcano.md") and source["distance"] < 0.6
    assert source["text"].startswith("Mauna Loa")
    prompt = Recorded.asked[-1][-1]["content"]
    assert "Mauna Loa on Hawaii" in prompt and "Question: Which volcano is the largest?" in prompt

    history = [["Which volcano is the largest?", "ok"]]
    answer = client.post("/api/runs/rag/chat", json={"message": "Why does sourdough rise?",
                                                     "history": history, "rag": True})
    [source] = json.loads(answer.headers[SOURCES_HEADER])
    assert source["source"].endswith("bread.txt")
    asked = Recorded.asked[-1]
    assert asked[0] == {"role": "user", "content": "Which volcano is the largest?"}
    assert "wild yeast" in asked[-1]["content"] and "Mauna Loa" not in asked[-1]["content"]

    plain = client.post("/api/runs/rag/chat", json={"message": "Which volcano is the largest?"})
    assert json.loads(plain.headers[SOURCES_HEADER]) == []  # RAG off: the question alone
    assert Recorded.asked[-1] == [{"role": "user", "content": "Which volcano is the largest?"}]


def test_rag_chat_needs_the_runs_retriever(runs, monkeypatch):
    import plugtune.inference.predictor as predictor_module

    monkeypatch.setattr(predictor_module, "Predictor", lambda **kwargs: object())
    finished_run(runs, "plain")
    client = TestClient(create_app(runs))
    answer = client.post("/api/runs/plain/chat", json={"message": "hi", "rag": True})
    assert answer.status_code == 422 and "RAG needs a retriever" in answer.text
    assert client.get("/api/runs/plain").json()["has_retriever"] is False


def test_export_lists_every_format_with_its_options(runs):
    formats = {f["name"]: f for f in TestClient(create_app(runs)).get("/api/exports").json()}
    assert {"safetensors", "gguf"} <= set(formats)
    gguf = formats["gguf"]["options"]["properties"]
    assert gguf["quant"]["default"] == "f16" and {"lora", "ollama"} <= set(gguf)
    assert formats["safetensors"]["options"]["properties"]["max_shard_size"]["default"] == "2GB"
    assert formats["safetensors"]["unavailable"] is None
    assert (formats["gguf"]["unavailable"] is None) == converter_present()


def test_the_format_chosen_first_is_the_one_plugtune_export_writes_by_default(runs):
    from plugtune.plugins.commands.export import export

    [flag] = [param for param in export.params if "--format" in param.opts]
    formats = TestClient(create_app(runs)).get("/api/exports").json()
    assert [f["name"] for f in formats if f["default"]] == [flag.default] == ["safetensors"]


def test_an_export_runs_plugtune_export_into_the_formats_own_folder_of_the_run(
        runs, monkeypatch):
    # The web UI names no format: a request without one gets plugtune export's default,
    # and no --to, so each format writes its own folder under output.dir, the run's.
    started: list[list[str]] = []
    monkeypatch.setattr(Job, "start", lambda job, arguments: started.append(arguments))
    folder = finished_run(runs, "done", output={"dir": "elsewhere"})
    client = TestClient(create_app(runs))
    assert client.post("/api/runs/done/export", json={}).status_code == 200
    use = runs.resolve() / ".webui" / "done" / "webui_use.yaml"
    assert started == [["plugtune", "export", str(use), "--format", "safetensors",
                        "--set", "output.overwrite=true"]]
    if converter_present():  # else gguf is refused before a process starts
        body = {"format": "gguf", "options": {"quant": "q8_0"}}
        assert client.post("/api/runs/done/export", json=body).status_code == 200
        assert started[1][3:] == ["--format", "gguf", "--set", "output.overwrite=true",
                                  "--option", 'quant="q8_0"']
    used = yaml.safe_load(use.read_text())  # trained elsewhere, found here: exports here
    assert used["output"]["dir"] == used["model"]["adapter"] == str(folder.resolve())


NOTES_EXPORTER = """
from pathlib import Path

from plugtune import hookimpl


class Notes:
    def export(self, config, session, *, adapter, to):
        target = to if to is not None else Path(config.output.dir) / "notes-export"
        target.mkdir(parents=True, exist_ok=True)
        (target / "notes.txt").write_text(config.model.adapter)
        return target


@hookimpl
def register_exporters(register):
    register("notes", Notes)
"""


@pytest.mark.slow  # starts plugtune export
def test_a_plugins_format_is_written_where_the_plugin_says(runs, tmp_path):
    plugin = tmp_path / "notes_exporter.py"
    plugin.write_text(NOTES_EXPORTER)
    folder = finished_run(runs, "done", plugins={"paths": [str(plugin)]})
    client = TestClient(create_app(runs, session=Session(plugins=[str(plugin)])))
    formats = {f["name"]: f for f in client.get("/api/exports").json()}
    assert not formats["notes"]["default"] and formats["safetensors"]["default"]
    assert client.post("/api/runs/done/export", json={"format": "notes"}).status_code == 200
    state = wait_for(lambda: (state := client.get("/api/runs/done/tasks/export").json())
                     ["status"] != "running" and state, 120, "the export to end")
    assert state["status"] == "finished", state["log"]
    notes = folder / "notes-export" / "notes.txt"
    assert notes.read_text() == str(folder.resolve())  # the run's adapter, beside it
    assert not (folder / "notes").exists()


@pytest.mark.parametrize(("body", "message"), [
    ({"format": "exe"}, "no exporter 'exe'; known: gguf, safetensors"),
    ({"format": "evil.py:Exporter"}, "no exporter 'evil.py:Exporter'"),  # never imported
    ({"format": "gguf", "options": {"quant": "q3_x"}}, "GGUF quant 'q3_x': expected one of"),
    ({"format": "gguf", "options": {"lora": True, "ollama": True}}, "--ollama with --lora-gguf"),
    ({"format": "safetensors", "options": {"shards": 2}}, "shards: unknown key"),
])
def test_a_bad_export_is_refused_before_a_process_starts(runs, body, message):
    finished_run(runs, "done")
    answer = TestClient(create_app(runs)).post("/api/runs/done/export", json=body)
    assert answer.status_code == 422 and message in answer.json()["detail"], answer.text
    assert not (runs / ".webui" / "done" / "webui_export.json").exists()


def test_without_llamas_converter_gguf_is_listed_unavailable_and_refused(runs, monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv("PLUGTUNE_LLAMA_CPP", str(tmp_path / "nowhere"))
    finished_run(runs, "done")
    client = TestClient(create_app(runs))
    gguf = next(f for f in client.get("/api/exports").json() if f["name"] == "gguf")
    assert "GGUF export needs llama.cpp's converter" in gguf["unavailable"]
    answer = client.post("/api/runs/done/export", json={"format": "gguf"})
    assert answer.status_code == 422
    assert "make gguf-converter" in answer.json()["detail"]
    assert not (runs / ".webui" / "done" / "webui_export.json").exists()


@needs_gguf_converter
@pytest.mark.slow
def test_a_gguf_export_with_its_options_runs_end_to_end(runs):
    from tests.adapters import random_lora

    folder = random_lora("tiny://qwen2", runs / "g")
    (folder / "run_config.yaml").write_text(yaml.safe_dump(tiny_config()))
    client = TestClient(create_app(runs))

    def export(options: dict[str, Any]) -> dict[str, Any]:
        started = client.post("/api/runs/g/export", json={"format": "gguf", "options": options})
        assert started.status_code == 200, started.text
        return wait_for(lambda: (state := client.get("/api/runs/g/tasks/export").json())
                        ["status"] != "running" and state, 300, "the export to end")

    state = export({"quant": "q8_0", "ollama": True})
    assert state["status"] == "finished", state["log"]
    gguf = folder / "gguf"
    assert sorted(p.name for p in gguf.iterdir()) == ["Modelfile", "export.json",
                                                       "model-q8_0.gguf"]
    record = json.loads((gguf / "export.json").read_text())
    assert record["quant"] == "q8_0" and record["ollama"] and record["template"] == "qwen2"
    command = json.loads((runs / ".webui" / "g" / "webui_export.json").read_text())["command"]
    assert command[-4:] == ["--option", 'quant="q8_0"', "--option", "ollama=true"]
    state = export({"lora": True})  # exporting again replaces the folder's files
    assert state["status"] == "finished", state["log"]
    assert [p.suffix for p in gguf.iterdir() if p.name != "export.json"] == [".gguf"]
    assert json.loads((gguf / "export.json").read_text())["lora"] is True
