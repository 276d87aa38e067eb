"""Reading files (json, jsonl, csv, parquet, txt, folders, saved datasets) and detecting
their format."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from plugtune import ConfigError, Session, hookimpl
from plugtune.core.config import DataConfig
from plugtune.core.records import RecordError, Text
from plugtune.data import detect_format, load_dataset, read_rows
from tests.conftest import write_json, write_jsonl


@pytest.fixture(scope="module")
def session():
    return Session()


# -- files ---------------------------------------------------------------------------------


def test_jsonl_bad_lines_follow_the_policy_and_are_counted(tmp_path, session, caplog):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "one"}\n{"text": broken\n\n{"text": ""}\n{"text": "four"}\n')
    with pytest.raises(RecordError, match=r"d.jsonl:2: not valid JSON"):
        load_dataset(str(path), session)
    with caplog.at_level(logging.WARNING):
        records, report = load_dataset(str(path), session, config=DataConfig(on_bad_record="skip"))
    assert [r.origin.rsplit(":", 1)[1] for r in records] == ["1", "5"]
    assert report.skipped == 2
    assert "d.jsonl:2: not valid JSON" in report.reasons[0]
    assert "d.jsonl:4: text: empty text" in report.reasons[1]
    assert "skipped 2 bad record(s), kept 2" in caplog.text


def test_a_dataset_with_no_usable_records_is_an_error(tmp_path, session):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": ""}])
    with pytest.raises(ConfigError, match="no usable records: .*d.jsonl:1: text: empty text"):
        load_dataset(str(path), session, config=DataConfig(on_bad_record="skip"))


def test_malformed_json_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2,,}\n]\n')
    with pytest.raises(RecordError, match=r"d.json:3:11: not valid JSON"):
        list(read_rows(path))


def test_json_forms(tmp_path):
    wrapped = write_json(tmp_path / "w.json", {"data": [{"a": 1}, {"a": 2}]})
    assert [row.origin for row in read_rows(wrapped)] == [
        f"{wrapped}[data][0]",
        f"{wrapped}[data][1]",
    ]
    lines = tmp_path / "l.json"
    lines.write_text('{"a": 1}\n{"a": 2}\n')
    assert [row.data for row in read_rows(lines)] == [{"a": 1}, {"a": 2}]
    with pytest.raises(ConfigError, match="expected a list of records"):
        list(read_rows(write_json(tmp_path / "o.json", {"a": 1, "b": 2})))


def test_csv_parquet_txt_and_folders(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('instruction,output\n"multi\nline",b\nc,d\n', encoding="utf-8")
    rows = list(read_rows(csv_path))
    assert [row.origin for row in rows] == [f"{csv_path}:2", f"{csv_path}:4"]
    assert rows[0].data == {"instruction": "multi\nline", "output": "b"}

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["x", "y"]}), parquet)
    assert [row.data for row in read_rows(parquet)] == [{"text": "x"}, {"text": "y"}]

    folder = tmp_path / "shards"
    folder.mkdir()
    write_jsonl(folder / "b.jsonl", [{"n": 2}])
    write_jsonl(folder / "a.jsonl", [{"n": 1}])
    (folder / "README.md").write_text("not data")
    assert [row.data["n"] for row in read_rows(folder)] == [1, 2]


def test_a_saved_datasets_folder_loads(tmp_path, session):
    import datasets

    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"instruction": "q", "output": "a"}] * 3),
            "test": datasets.Dataset.from_list([{"instruction": "t", "output": "a"}]),
        }
    ).save_to_disk(str(saved))
    records, report = load_dataset(str(saved), session)
    assert len(records) == 3 and report.loader == "alpaca"
    assert records[0].origin == f"{saved}/train[0]"
    spec = {"path": str(saved), "split": "test"}
    assert len(load_dataset(spec, session)[0]) == 1


# -- format detection ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"instruction": "q", "input": "", "output": "a"}, ("alpaca", {})),
        ({"instruction": "q", "chosen": "a", "rejected": "b"}, ("alpaca", {"ranking": True})),
        (
            {"conversations": [{"from": "human", "value": "q"}], "chosen": {}, "rejected": {}},
            ("sharegpt", {"ranking": True, "columns": {"messages": "conversations"}}),
        ),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, ("preference", {})),
        (
            {"conversations": [{"from": "human", "value": "q"}]},
            ("sharegpt", {"columns": {"messages": "conversations"}}),
        ),
        (
            {"conversations": [{"role": "user", "content": "q"}]},
            ("openai", {"columns": {"messages": "conversations"}}),
        ),
        (
            {"messages": [{"role": "user", "content": "q"}], "label": True},
            ("openai", {"columns": {"messages": "messages", "kto_tag": "label"}}),
        ),
        ({"prompt": "q", "completion": "a", "label": True}, ("kto", {})),
        ({"conversations": [], "gold_answers": ["a"], "bad_answers": []}, ("gold_bad", {})),
        ({"context": "c", "target": "t"}, ("context_target", {})),
        ({"prompt": "q", "answer": "42"}, ("prompt_answer", {})),
        ({"text": "doc"}, ("text", {})),
    ],
)
def test_format_detection_rule(row, expected):
    assert detect_format(row, Path("data.jsonl")) == expected


def test_a_markdown_file_is_text_one_row_per_line(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Title\n\nA paragraph.\n", encoding="utf-8")
    rows = list(read_rows(guide))
    assert [row.origin for row in rows] == [f"{guide}:1", f"{guide}:3"]
    assert [row.data for row in rows] == [{"text": "# Title"}, {"text": "A paragraph."}]


def test_detection_of_txt_and_unknown_rows():
    assert detect_format(None, Path("wiki.txt")) == ("text", {})
    assert detect_format(None, Path("guide.md")) == ("text", {})
    with pytest.raises(ConfigError, match=r"cannot tell the format .*\(body, id\); set format"):
        detect_format({"id": 1, "body": "x"}, Path("d.jsonl"))


class BuggyLoaders:
    """A third-party loader plugin with a bug: it raises KeyError on some rows."""

    class Loader:
        def convert(self, row, origin):
            return Text(row["body"], {}, origin)

    @hookimpl
    def register_loaders(self, register):
        register("buggy", self.Loader)


def test_a_crashing_third_party_loader_is_a_bad_record_not_a_traceback(tmp_path):
    session = Session(plugins=[BuggyLoaders()])
    path = write_jsonl(tmp_path / "d.jsonl", [{"body": "ok"}, {"text": "no body"}])
    spec = {"path": str(path), "format": "buggy"}
    with pytest.raises(RecordError, match=r"d.jsonl:2: the 'buggy' loader failed: KeyError"):
        load_dataset(spec, session)
    records, report = load_dataset(spec, session, config=DataConfig(on_bad_record="skip"))
    assert [record.text for record in records] == ["ok"] and report.skipped == 1


def test_split_only_applies_to_saved_datasetdicts(tmp_path, session):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "t"}])
    with pytest.raises(ConfigError, match="split 'validation' only applies to a saved DatasetDict"):
        load_dataset({"path": str(path), "split": "validation"}, session)
