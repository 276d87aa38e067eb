"""Thousands of mutated records against every registered loader (seeded, so repeatable).

Properties: a loader returns a valid record or raises RecordError (never another
exception), every error names the record's origin, and through the data pipeline with
``on_bad_record: skip`` no good record is lost: rows in == records out + skipped.
"""

from __future__ import annotations

import copy
import datetime
import json
import random

import pytest

from plugtune import Session
from plugtune.core.config import DataConfig
from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Preference,
    RecordError,
    Text,
)
from plugtune.data import load_dataset
from plugtune.sdk.turns import check_messages

MUTANTS_PER_SEED = 200
MAX_MUTATIONS = 3

U, A = {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}
CALL = {
    "role": "assistant",
    "content": "",
    "tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}],
}
TOOLS = [{"name": "add", "description": "adds", "parameters": {"type": "object"}}]
SHAREGPT = [
    {"from": "human", "value": "Add 2 and 2"},
    {"from": "function_call", "value": '{"name": "add", "arguments": {"a": 2, "b": 2}}'},
    {"from": "observation", "value": "4"},
    {"from": "gpt", "value": "It is 4."},
]

# Every registered loader: (options, a good row) pairs the mutations start from.
MULTIPLE_CHOICE = {"question": "2 + 2 = ?", "A": "3", "B": "4", "C": "5", "D": "22",
                   "answer": "B"}

SEEDS = {
    "ceval": [({}, {"id": 0, **MULTIPLE_CHOICE, "explanation": "adding"})],
    "mmlu": [({}, MULTIPLE_CHOICE)],
    "cmmlu": [({}, {"Question": "2 + 2 = ?", "A": "3", "B": "4", "C": "5", "D": "22",
                    "Answer": "B"})],
    "alpaca": [
        (
            {},
            {
                "instruction": "Sum",
                "input": "2 2",
                "output": "4",
                "system": "Be exact.",
                "history": [["hi", "hello"]],
                "images": ["a.jpg"],
                "id": 1,
            },
        ),
        ({"ranking": True}, {"instruction": "Sum", "chosen": "4", "rejected": "5"}),
        ({"columns": {"kto_tag": "label"}}, {"instruction": "Sum", "output": "4", "label": True}),
    ],
    "sharegpt": [
        ({}, {"conversations": SHAREGPT, "system": "Use tools.", "tools": json.dumps(TOOLS)}),
        (
            {"ranking": True},
            {
                "conversations": SHAREGPT[:1],
                "chosen": {"from": "gpt", "value": "4"},
                "rejected": {"from": "gpt", "value": "5"},
            },
        ),
    ],
    "openai": [
        (
            {},
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    U,
                    CALL,
                    {"role": "tool", "content": "4", "tool_call_id": "c1"},
                    A,
                ],
                "tools": TOOLS,
            },
        ),
        ({"columns": {"kto_tag": "label"}}, {"messages": [U, A], "label": False}),
    ],
    "preference": [
        ({}, {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5", "system": "s"}),
        ({}, {"chosen": [U, A], "rejected": [U, {"role": "assistant", "content": "5"}]}),
    ],
    "kto": [
        ({}, {"prompt": [U], "completion": [A], "label": True}),
        ({}, {"messages": [U, A], "label": "false"}),
    ],
    "text": [({}, {"text": "A document about numbers.", "url": "https://example.org"})],
    "context_target": [({}, {"context": "2+2", "target": "4", "system": "math"})],
    "gold_bad": [
        ({}, {"conversations": [U], "gold_answers": ["4", "four"], "bad_answers": "5"}),
        ({}, {"conversations": [U, A], "gold_answers": "4"}),
    ],
    "prompt_answer": [
        ({}, {"prompt": "What is 2+2?", "answer": "4"}),
        ({}, {"prompt": [{"role": "system", "content": "s"}, U], "answer": [4, "4"]}),
    ],
}


def garbage(rng: random.Random, depth: int = 0) -> object:
    """Wrong types, empties, huge and odd unicode strings, nested junk."""
    simple = [
        None,
        0,
        -1,
        3.5,
        float("nan"),
        True,
        False,
        "",
        " ",
        "\n\t",
        "x" * 200_000,
        "😀\u200b\x00漢字\u202e",
        "\ud800",
        "[" * 3000 + "]" * 3000,
        '{"name": 1}',
        "null",
        "human",
        "assistant",
        "function_call",
        [],
        {},
        b"bytes",
        (1, 2),
        datetime.date(2024, 1, 1),
    ]
    if depth < 4 and rng.random() < 0.3:
        if rng.random() < 0.5:
            return [garbage(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            rng.choice(["role", "content", "from", "value", "name", 7, "x"]): garbage(
                rng, depth + 1
            )
            for _ in range(rng.randint(0, 3))
        }
    if rng.random() < 0.05:
        nested: object = "deep"
        for _ in range(60):
            nested = [nested]
        return nested
    return rng.choice(simple)


def containers(value: object, path: tuple = ()) -> list[tuple]:
    """Paths to every dict and list inside ``value``."""
    found = []
    if isinstance(value, dict | list):
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            found.extend(containers(child, (*path, key)))
    return found


def at(value: object, path: tuple) -> object:
    for key in path:
        value = value[key]  # type: ignore[index]
    return value


def mutate(rng: random.Random, row: dict) -> object:
    row = copy.deepcopy(row)
    for _ in range(rng.randint(1, MAX_MUTATIONS)):
        if rng.random() < 0.02:
            return garbage(rng)  # not even an object
        target = at(row, rng.choice(containers(row)))
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
        action = rng.choice(["drop", "rename", "replace", "replace", "add", "shuffle", "empty"])
        if not keys or action == "add":
            if isinstance(target, dict):
                target[rng.choice(["role", "content", "extra", "чужой", "messages"])] = garbage(rng)
            else:
                target.append(garbage(rng))
            continue
        key = rng.choice(keys)
        if action == "drop":
            del target[key]
        elif action == "rename" and isinstance(target, dict):
            target[rng.choice(["instrucion", "Output", "from ", "ROLE", "content2", "😀"])] = (
                target.pop(key)
            )
        elif action == "shuffle" and isinstance(target, list):
            rng.shuffle(target)
        elif action == "empty":
            target[key] = rng.choice(["", " ", [], {}, None])
        else:
            target[key] = garbage(rng)
    return row


def assert_valid(record: object, origin: str) -> None:
    """A record a loader returns is one the rest of plugtune can rely on."""
    if isinstance(record, Text):
        assert isinstance(record.text, str) and record.text.strip() and record.origin == origin
        return
    if isinstance(record, Preference):
        check_messages(record.prompt.messages, origin=origin, final="prompt")
        for answer in (record.chosen, record.rejected):
            assert answer.role == "assistant" and (answer.content.strip() or answer.tool_calls)
        record = record.prompt
    elif isinstance(record, LabeledCompletion):
        assert isinstance(record.label, bool)
        check_messages(record.conversation.messages, origin=origin, final="assistant")
        record = record.conversation
    assert isinstance(record, Conversation) and record.origin == origin
    check_messages(record.messages, origin=origin)
    assert all(isinstance(spec, dict) for spec in record.tools)


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture(scope="module")
def outcomes(session):
    """Every mutant of every seed, converted directly: (loader, options, row, ok, error)."""
    rng = random.Random(20261122)
    results = []
    unexpected = []
    for name, seeds in SEEDS.items():
        for options, seed in seeds:
            loader = session.build("loaders", {"name": name, **options})
            assert_valid(loader.convert(seed, "seed:1"), "seed:1")  # the seed itself is good
            for index in range(MUTANTS_PER_SEED):
                row, origin = mutate(rng, seed), f"fuzz-{name}.jsonl:{index + 1}"
                try:
                    record = loader.convert(row, origin)
                except RecordError as error:
                    results.append((name, options, row, None, error))
                except Exception as error:
                    unexpected.append(f"{name} {options}: {error!r} on {str(row)[:300]}")
                else:
                    results.append((name, options, row, record, None))
    assert not unexpected, "\n".join(unexpected[:10])
    return results


def test_every_registered_loader_is_fuzzed(session):
    assert set(session.registry("loaders").names()) == set(SEEDS)


def test_mutants_give_a_valid_record_or_a_record_error_naming_the_origin(outcomes):
    assert len(outcomes) >= 3000
    errors = [error for *_, error in outcomes if error is not None]
    assert len(errors) > len(outcomes) // 3  # the mutations really do break records
    for name, _, _, record, error in outcomes:
        if error is not None:
            assert str(error).startswith(f"{error.origin}: ") and error.origin.startswith(
                f"fuzz-{name}"
            )
            assert len(str(error)) < 2000  # a huge field is never pasted into the message
        else:
            assert_valid(record, record_origin(record))


def record_origin(record: object) -> str:
    if isinstance(record, Preference):
        return record.prompt.origin
    if isinstance(record, LabeledCompletion):
        return record.conversation.origin
    return record.origin  # type: ignore[attr-defined]


@pytest.mark.slow
def test_skip_policy_loses_no_good_record(outcomes, session, tmp_path):
    """Through files and the pipeline: each mutant (plus broken JSON lines) is either
    loaded or counted as skipped, and every mutant that converts is loaded."""
    by_loader: dict[tuple[str, str], list] = {}
    for name, options, row, _, _ in outcomes:
        by_loader.setdefault((name, json.dumps(options, sort_keys=True)), []).append(row)
    for (name, options), rows in by_loader.items():
        path = tmp_path / f"{name}-{abs(hash(options))}.jsonl"
        lines, good = [], set()
        loader = session.build("loaders", {"name": name, **json.loads(options)})
        for index, row in enumerate(rows):
            try:
                line = json.dumps(row, default=str)
                loaded = json.loads(line)
            except (TypeError, ValueError, RecursionError):
                continue
            if index % 25 == 0:
                lines.append('{"broken": ')  # not JSON at all
            lines.append(line)
            try:
                loader.convert(loaded, "x")
                good.add(f"{path}:{len(lines)}")
            except RecordError:
                pass
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec = {"path": str(path), "format": {"name": name, **json.loads(options)}}
        records, report = load_dataset(spec, session, config=DataConfig(on_bad_record="skip"))
        assert report.loaded + report.skipped == len(lines)
        assert {record_origin(record) for record in records} == good
        assert report.skipped == 0 or report.reasons
        assert all(reason.startswith(str(path)) for reason in report.reasons)
