"""The ``keyword`` reward in a GRPO run beside plugtune's built-in rewards: each logs its
mean, and TRL's total is the weighted sum the run config asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugtune import Session, load_config

PROMPTS = [
    {"prompt": "Name a color.", "answer": "blue"},
    {"prompt": "What is two plus two?", "answer": 4},
    {"prompt": "Say hello.", "answer": "hello"},
    {"prompt": "Write a word.", "answer": "tree"},
    {"prompt": "Give a number.", "answer": 7},
    {"prompt": "Name an animal.", "answer": "cat"},
    {"prompt": "Name a fruit.", "answer": "apple"},
    {"prompt": "Pick a letter.", "answer": "e"},
]


def test_the_keyword_reward_and_built_ins_log_their_means(
    example_environment: Path, tmp_path: Path
) -> None:
    from plugtune.training import train

    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in PROMPTS), encoding="utf-8")
    rewards = ("[{name: keyword, keyword: e, weight: 2.0}, {name: format, weight: 0.5}, "
               "{name: accuracy, extract: null, weight: 1.0}]")
    config = load_config(None, [
        f"data.train=[{data}]", f"output.dir={tmp_path / 'run'}",
        "trainer={name: grpo, max_completion_length: 16}", f"rewards={rewards}",
        "training.per_device_train_batch_size=8",  # 2 prompts x 4 completions
        "training.logging_steps=1", "training.save_strategy=no", "training.report_to=[]",
        "training.max_steps=2", "data.val_size=0.25",
    ])
    metrics = train(config, Session())
    lines = (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()
    entries = [entry for entry in map(json.loads, lines) if "reward" in entry]
    assert len(entries) == 2
    for entry in entries:
        means = {name: entry[f"rewards/{name}/mean"] for name in ("keyword", "format", "accuracy")}
        assert means["keyword"] > 0  # nearly every random completion holds an "e"
        total = 2.0 * means["keyword"] + 0.5 * means["format"] + means["accuracy"]
        assert entry["reward"] == pytest.approx(total, rel=1e-5)
    assert "eval_reward" in metrics  # the evaluation split's rewards read its own columns


@pytest.mark.slow
def test_the_guess_number_environment_trains_and_scores_its_episodes(
    example_environment: Path, tmp_path: Path
) -> None:
    """Agentic GRPO with the example's environment and no reward plugin at all: the
    environment's own reward is the run's, logged as ``rewards/environment/mean``; each
    episode is in ``episodes.jsonl``."""
    from plugtune.training import train

    data = tmp_path / "secrets.jsonl"
    rows = [{"prompt": "I am thinking of a number from 1 to 10.", "answer": str(n), "secret": n}
            for n in (3, 7)]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = load_config(None, [
        f"data.train=[{data}]", f"output.dir={tmp_path / 'run'}", "template=qwen2",
        "trainer={name: grpo, max_completion_length: 24}", "rewards=[]",
        "agent={environment: {name: guess_number, penalty: 0.2}, max_tool_calls: 3}",
        "training.per_device_train_batch_size=8", "training.logging_steps=1",
        "training.save_strategy=no", "training.report_to=[]", "training.max_steps=2",
    ])
    train(config, Session())
    lines = (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()
    entries = [entry for entry in map(json.loads, lines) if "reward" in entry]
    assert len(entries) == 2
    assert all(entry["reward"] == entry["rewards/environment/mean"] for entry in entries)
    episodes = (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == 16


def test_guess_number_is_an_environment(example_environment: Path) -> None:
    from plugtune_example.guess_number import GuessNumber

    from plugtune.sdk.testing import check_environment

    schemas = check_environment(GuessNumber, [{"secret": 7}, {"secret": 1}])
    assert [schema["function"]["name"] for schema in schemas] == ["guess"]
    assert schemas[0]["function"]["parameters"]["properties"]["number"]["type"] == "integer"


def test_guess_number_hints_and_scores(example_environment: Path) -> None:
    from plugtune_example.guess_number import GuessNumber

    game = GuessNumber(penalty=0.25)
    assert game.reset(secret=7) == " Find it with the guess tool."
    assert [game.guess(n) for n in (5, 9, 7)] == ["higher", "lower", "correct"]
    assert game.get_reward() == 0.5
    game.reset(secret=2)
    game.guess(3)
    assert game.get_reward() == 0.0
