"""Loader plugins: each format, column remapping, meta kept, errors naming the field."""

from __future__ import annotations

import pytest

from plugtune import ConfigError, Session
from plugtune.core.interfaces import Loader
from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Message,
    Preference,
    RecordError,
    Text,
    ToolCall,
)

FORMATS = (
    "alpaca",
    "sharegpt",
    "openai",
    "preference",
    "kto",
    "text",
    "context_target",
    "gold_bad",
    "prompt_answer",
)


@pytest.fixture(scope="module")
def session():
    return Session()


def load(session, ref, row, origin="data.jsonl:7"):
    return session.build("loaders", ref).convert(row, origin)


def roles(conversation):
    return [message.role for message in conversation.messages]


def test_every_format_is_a_registered_loader_plugin(session):
    assert set(FORMATS) <= set(session.registry("loaders").names())
    for name in FORMATS:
        loader = session.build("loaders", name)
        assert isinstance(loader, Loader)
        assert session.component("loaders", name).plugin.origin == "plugtune"


# -- alpaca ------------------------------------------------------------------------------


def test_alpaca_joins_instruction_and_input_and_keeps_system_and_history(session):
    row = {
        "instruction": "Translate",
        "input": "bonjour",
        "output": "hello",
        "system": "Be brief.",
        "history": [["hi", "hey"]],
        "source": "web",
    }
    record = load(session, "alpaca", row)
    assert isinstance(record, Conversation)
    assert roles(record) == ["system", "user", "assistant", "user", "assistant"]
    assert record.messages[3].content == "Translate\nbonjour"
    assert record.messages[-1] == Message("assistant", "hello")
    assert record.meta == {"source": "web"}
    assert record.origin == "data.jsonl:7"


def test_alpaca_empty_input_is_left_out_and_ranking_makes_a_preference(session):
    plain = load(session, "alpaca", {"instruction": "Hi", "input": "", "output": "Hello"})
    assert plain.messages[0].content == "Hi"
    row = {"instruction": "Pick", "chosen": "good", "rejected": "bad"}
    pair = load(session, {"name": "alpaca", "ranking": True}, row)
    assert isinstance(pair, Preference)
    assert roles(pair.prompt) == ["user"]
    assert (pair.chosen.content, pair.rejected.content) == ("good", "bad")


def test_alpaca_kto_tag_makes_a_labeled_completion(session):
    ref = {"name": "alpaca", "columns": {"kto_tag": "label"}}
    record = load(session, ref, {"instruction": "Hi", "output": "Hello", "label": False})
    assert isinstance(record, LabeledCompletion) and record.label is False
    assert roles(record.conversation) == ["user", "assistant"]


def test_columns_remap_llamafactory_names_and_unused_fields_stay_in_meta(session):
    ref = {"name": "alpaca", "columns": {"prompt": "question", "response": "answer"}}
    record = load(session, ref, {"question": "2+2?", "answer": "4", "output": "ignored"})
    assert record.messages[0].content == "2+2?"
    assert record.messages[1].content == "4"
    assert record.meta == {"output": "ignored"}


def test_a_column_can_be_switched_off(session):
    ref = {"name": "alpaca", "columns": {"system": None}}
    record = load(session, ref, {"instruction": "a", "output": "b", "system": "s"})
    assert roles(record) == ["user", "assistant"]
    assert record.meta == {"system": "s"}


def test_unknown_columns_and_tags_are_config_errors_with_a_suggestion(session):
    with pytest.raises(ConfigError, match=r"unknown column 'promt' \(did you mean 'prompt'\?\)"):
        session.build("loaders", {"name": "alpaca", "columns": {"promt": "q"}})
    with pytest.raises(ConfigError, match=r"unknown tag 'role' \(did you mean 'role_tag'\?\)"):
        session.build("loaders", {"name": "sharegpt", "tags": {"role": "r"}})
    with pytest.raises(ConfigError, match="ranking"):
        session.build("loaders", {"name": "text", "ranking": True})


# -- sharegpt / openai -------------------------------------------------------------------


def test_sharegpt_function_calls_become_tool_calls_and_results_get_the_tool_name(session):
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {
                "from": "function_call",
                "value": '{"name": "weather", "arguments": {"city": "Paris"}}',
            },
            {"from": "observation", "value": '{"temp": 21}'},
            {"from": "gpt", "value": "21 degrees."},
        ],
        "tools": '[{"name": "weather", "description": "w", "parameters": {}}]',
        "system": "You check weather.",
    }
    record = load(session, "sharegpt", row)
    assert roles(record) == ["system", "user", "assistant", "tool", "assistant"]
    assert record.messages[2].tool_calls == (ToolCall("weather", {"city": "Paris"}),)
    assert record.messages[2].content == ""
    assert record.messages[3].name == "weather"
    assert record.tools == ({"type": "function", "function": row_tool(row)},)


def row_tool(row):
    import json

    return json.loads(row["tools"])[0]


def test_sharegpt_tags_respell_roles_and_a_system_message_wins_over_the_column(session):
    ref = {
        "name": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }
    row = {
        "messages": [
            {"role": "system", "content": "first"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ],
        "system": "column",
    }
    record = load(session, ref, row)
    assert record.system == "first"
    assert record.meta == {"system": "column"}  # not dropped


def test_sharegpt_ranking_reads_chosen_and_rejected_messages(session):
    row = {
        "conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "yes"},
        "rejected": {"from": "gpt", "value": "no"},
    }
    pair = load(session, {"name": "sharegpt", "ranking": True}, row)
    assert isinstance(pair, Preference)
    assert roles(pair.prompt) == ["system", "user"]
    assert pair.chosen == Message("assistant", "yes")


def test_openai_messages_with_tool_calls_reasoning_and_extra_message_fields(session):
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Add "}, {"type": "text", "text": "2 and 3"}],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "use the tool",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                    }
                ],
            },
            {"role": "tool", "content": "5", "tool_call_id": "c1"},
            {"role": "assistant", "content": "5"},
        ]
    }
    record = load(session, "openai", row)
    assert record.messages[0].content == "Add 2 and 3"
    call = record.messages[1]
    assert call.tool_calls == (ToolCall("add", '{"a": 2, "b": 3}', "c1"),)
    assert call.reasoning == "use the tool"
    assert record.messages[2].name == "add"
    assert record.meta == {"message_fields": {"messages[2]": {"tool_call_id": "c1"}}}


def test_openai_reads_the_conversations_column_too(session):
    row = {
        "conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    }
    assert roles(load(session, "openai", row)) == ["user", "assistant"]


def test_media_paths_are_kept_in_meta_resolved_against_the_media_dir(session, tmp_path):
    ref = {"name": "openai", "media_dir": str(tmp_path)}
    row = {
        "messages": [
            {"role": "user", "content": "<image>Who?"},
            {"role": "assistant", "content": "Me"},
        ],
        "images": ["pics/1.jpg", "/abs/2.jpg", "https://x.org/3.jpg"],
        "audios": "a.wav",
    }
    record = load(session, ref, row)
    assert record.meta["images"] == [
        str(tmp_path / "pics/1.jpg"),
        "/abs/2.jpg",
        "https://x.org/3.jpg",
    ]
    assert record.meta["audios"] == [str(tmp_path / "a.wav")]


# -- preference / kto / text / context_target / gold_bad / prompt_answer -----------------


def test_preference_with_a_prompt_string_or_messages(session):
    pair = load(session, "preference", {"prompt": "q", "chosen": "a", "rejected": "b"})
    assert roles(pair.prompt) == ["user"] and pair.rejected.content == "b"
    row = {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": {"role": "assistant", "content": "b"},
        "system": "s",
    }
    pair = load(session, "preference", row)
    assert roles(pair.prompt) == ["system", "user"]
    assert (pair.chosen.content, pair.rejected.content) == ("a", "b")


def test_preference_without_a_prompt_takes_the_shared_prefix(session):
    question = {"role": "user", "content": "q"}
    row = {
        "chosen": [question, {"role": "assistant", "content": "a"}],
        "rejected": [question, {"role": "assistant", "content": "b"}],
    }
    pair = load(session, "preference", row)
    assert pair.prompt.messages == (Message("user", "q"),)
    different = {**row, "rejected": [{"role": "user", "content": "other"}, row["rejected"][1]]}
    with pytest.raises(RecordError, match="rejected: must repeat the chosen conversation"):
        load(session, "preference", different)


def test_kto_prompt_completion_label_and_string_labels(session):
    record = load(session, "kto", {"prompt": "q", "completion": "a", "label": True})
    assert isinstance(record, LabeledCompletion) and record.label is True
    from_csv = load(session, "kto", {"prompt": "q", "completion": "a", "label": "False"})
    assert from_csv.label is False
    with pytest.raises(RecordError, match="data.jsonl:7: label: must be true or false"):
        load(session, "kto", {"prompt": "q", "completion": "a", "label": "maybe"})


def test_kto_reads_a_whole_conversation(session):
    row = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "label": False,
    }
    record = load(session, "kto", row)
    assert roles(record.conversation) == ["user", "assistant"] and record.label is False


def test_text_documents_and_remapped_column(session):
    record = load(session, "text", {"text": "Once upon a time", "url": "u"})
    assert record == Text("Once upon a time", {"url": "u"}, "data.jsonl:7")
    assert load(session, {"name": "text", "columns": {"prompt": "body"}}, {"body": "b"}).text == "b"
    with pytest.raises(RecordError, match="text: empty text"):
        load(session, "text", {"text": "   "})


def test_context_target(session):
    record = load(session, "context_target", {"context": "c", "target": "t", "id": 3})
    assert [m.content for m in record.messages] == ["c", "t"] and record.meta == {"id": 3}


def test_gold_bad_uses_the_first_gold_answer_and_keeps_both_lists(session):
    row = {
        "conversations": [{"role": "user", "content": "2+2?"}],
        "gold_answers": ["4", "four"],
        "bad_answers": "5",
    }
    record = load(session, "gold_bad", row)
    assert roles(record) == ["user", "assistant"] and record.messages[-1].content == "4"
    assert record.meta == {"gold_answers": ["4", "four"], "bad_answers": ["5"]}
    answered = {"conversations": "2+2?", "gold_answers": "4"}
    assert load(session, "gold_bad", answered).meta["bad_answers"] == []


def test_prompt_answer_ends_with_the_user_turn_and_keeps_the_answer(session):
    record = load(session, "prompt_answer", {"prompt": "What is 6*7?", "answer": 42})
    assert roles(record) == ["user"] and record.meta == {"answer": 42}
    messages = [{"role": "system", "content": "Think."}, {"role": "user", "content": "q"}]
    record = load(session, "prompt_answer", {"prompt": messages, "answer": "a"})
    assert roles(record) == ["system", "user"]
    with pytest.raises(RecordError, match="prompt: must end with a user or tool turn"):
        load(
            session,
            "prompt_answer",
            {"prompt": [*messages, {"role": "assistant", "content": "x"}], "answer": "a"},
        )
