"""Bad rows: every loader raises a RecordError naming the origin and the field."""

from __future__ import annotations

import json

import pytest

from plugtune import Session
from plugtune.core.records import RecordError
from tests.conftest import FIXTURES, needs_fixtures


@pytest.fixture(scope="module")
def session():
    return Session()


def load(session, ref, row, origin="data.jsonl:7"):
    return session.build("loaders", ref).convert(row, origin)


# -- errors name the origin and the field ------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "row", "expected"),
    [
        ("alpaca", {"instruction": "q"}, "data.jsonl:7: output: missing"),
        (
            "alpaca",
            {"instruction": "", "output": "a"},
            "data.jsonl:7: instruction: empty user turn",
        ),
        ("alpaca", {"instruction": 3, "output": "a"}, "instruction: must be a string, got int"),
        ("alpaca", {"instruction": "q", "output": " "}, "output: empty answer"),
        (
            "alpaca",
            {"instruction": "q", "output": "a", "history": [["x"]]},
            "history[0]: must be a [prompt, response] pair",
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "gpt", "value": "a"}]},
            "conversations[0].from: 'assistant' cannot come first",
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]},
            "conversations[1].value: empty assistant turn",
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "human", "value": "q"}]},
            "conversations: must end with an assistant answer",
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "bot", "value": "q"}]},
            "conversations[0].from: unknown role 'bot'",
        ),
        ("sharegpt", {"conversations": "q"}, "conversations: must be a list of messages, got str"),
        (
            "sharegpt",
            {
                "conversations": [
                    {"from": "human", "value": "q"},
                    {"from": "function_call", "value": "{oops"},
                ]
            },
            "conversations[1].value: not valid JSON",
        ),
        (
            "openai",
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ],
                "tools": 5,
            },
            "tools: must be a list of tool specs, got int",
        ),
        (
            "openai",
            {"messages": [{"role": "user", "content": {"x": 1}}]},
            "messages[0].content: must be a string, got dict",
        ),
        (
            "preference",
            {"prompt": "q", "chosen": "a", "rejected": {"role": "user", "content": "b"}},
            "rejected.role: must be an answer, not a user turn",
        ),
        (
            "gold_bad",
            {"conversations": "q", "gold_answers": []},
            "gold_answers: needs at least one",
        ),
        ("prompt_answer", {"prompt": "q", "answer": None}, "answer: missing"),
        ("text", ["not", "an", "object"], "data.jsonl:7: a record must be an object, got list"),
    ],
)
def test_bad_records_raise_record_errors_naming_origin_and_field(session, ref, row, expected):
    with pytest.raises(RecordError) as error:
        load(session, ref, row)
    assert expected in str(error.value)
    assert str(error.value).startswith("data.jsonl:7: ")


def test_media_clashing_with_an_unmapped_column_is_an_error_not_a_silent_overwrite(session):
    ref = {"name": "openai", "columns": {"images": "image"}}
    row = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "image": "a.jpg",
        "images": "other",
    }
    with pytest.raises(RecordError, match="images: clashes"):
        load(session, ref, row)


@needs_fixtures
def test_the_fixture_demo_rows_convert(session):
    data = FIXTURES / "llamafactory_data"
    rows = json.loads((data / "glaive_toolcall_en_demo.json").read_text(encoding="utf-8"))
    record = load(session, "sharegpt", rows[0], "glaive[0]")
    assert any(message.tool_calls for message in record.messages)
    assert record.tools and record.tools[0]["type"] == "function"
