"""Agentic GRPO: episodes played on tokens (the policy's own tokens trained, the tools'
messages masked out), rewards that judge the final answer, the episode logs; and a run
on the tiny model with the calculator environment, alone and on two processes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from plugtune import Session, load_config
from plugtune.agents.environments import Episodes
from plugtune.core.config import AgentConfig
from plugtune.core.records import Conversation, Message
from plugtune.plugins.trainers.grpo import agentic
from plugtune.training import train
from tests.conftest import write_jsonl

SESSION = Session()
QWEN2 = SESSION.build("templates", "qwen2")
CALL = '<tool_call>\n{"name": "calculate", "arguments": {"expression": "347 * 28"}}\n</tool_call>'


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from plugtune.models import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("tiny://qwen2"))


def record(text: str, answer: str) -> Conversation:
    return Conversation((Message("user", text),), meta={"answer": answer}, origin=f"{text}")


class ScriptedPolicy:
    """Stands for the model: answers each sequence with the next reply of its script,
    then its end-of-turn token and some tokens past it (which must be cut off)."""

    def __init__(self, tokenizer: Any, scripts: dict[str, list[str]]) -> None:
        self.tokenizer, self.scripts = tokenizer, {k: iter(v) for k, v in scripts.items()}
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.calls: list[int] = []

    def __call__(self, trainer: Any, state: Any, sequences: Sequence[list[int]],
                 max_new_tokens: int) -> list[list[int]]:
        self.calls.append(len(sequences))
        replies = []
        for ids in sequences:
            text = self.tokenizer.decode(ids)
            script = next(v for k, v in self.scripts.items() if k in text)
            reply = self.tokenizer(next(script), add_special_tokens=False).input_ids
            replies.append([*reply, self.end, 11, 12, 13][:max_new_tokens])
        return replies


def rollouts(tokenizer: Any, records: list[Conversation], max_length: int = 200,
             log_path: Any = None) -> agentic.AgenticRollouts:
    episodes = Episodes(AgentConfig(environment="calculator"), SESSION, QWEN2)
    return agentic.AgenticRollouts(episodes, records, tokenizer, max_length, log_path)


def fake_trainer(tokenizer: Any, rows: list[int]) -> SimpleNamespace:
    slots = []
    for row in rows:
        slot = agentic.EpisodeSlot()
        slot.reset(prompt="ignored", plugtune_row=row)
        slots.append(slot)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    return SimpleNamespace(environments=slots, eos_token_ids=[end], generation_config=None,
                           generation_kwargs={},
                           state=SimpleNamespace(global_step=3),
                           accelerator=SimpleNamespace(process_index=0))


def test_an_episode_trains_the_models_tokens_and_masks_the_tools(tokenizer, monkeypatch,
                                                                  tmp_path):
    policy = ScriptedPolicy(tokenizer, {"What is 347": [CALL, "9716"], "What is 2 + 2": ["4"]})
    monkeypatch.setattr(agentic, "generate", policy)
    records = [record("What is 347 * 28?", "9716"), record("What is 2 + 2?", "4")]
    play = rollouts(tokenizer, records, log_path=tmp_path / "episodes.jsonl")
    trainer = fake_trainer(tokenizer, [0, 1])
    output = play(["p0", "p1"], trainer)

    assert policy.calls == [2, 1]  # the second turn batches only the episode still going
    ids, mask = output["completion_ids"][0], output["env_mask"][0]
    model_text = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    tool_text = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert model_text == CALL + "<|im_end|>" + "9716<|im_end|>"
    assert tool_text == ("\n<|im_start|>user\n<tool_response>\n9716\n</tool_response>"
                         "<|im_end|>\n<|im_start|>assistant\n")
    episode = trainer.environments[0].episode
    # prompt + completion: the whole episode as the template renders it
    assert tokenizer.decode(output["prompt_ids"][0] + ids) == episode.prompt().removesuffix(
        "<|im_start|>assistant\n").removesuffix("\n")
    assert output["env_mask"][1] == [1] * len(output["completion_ids"][1])
    assert output["logprobs"] is None

    lines = [json.loads(x) for x in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert [(x["step"], x["row"], x["tool_calls"], x["answer"]) for x in lines] == [
        (3, 0, 1, "9716"), (3, 1, 0, "4")]


def test_an_episode_out_of_tokens_stops_for_length(tokenizer, monkeypatch):
    monkeypatch.setattr(agentic, "generate",
                        ScriptedPolicy(tokenizer, {"What is 347": [CALL + " and more" * 40]}))
    play = rollouts(tokenizer, [record("What is 347 * 28?", "9716")], max_length=20)
    trainer = fake_trainer(tokenizer, [0])
    output = play(["p"], trainer)
    assert len(output["completion_ids"][0]) == 20 and output["env_mask"][0] == [1] * 20
    assert trainer.environments[0].episode.stopped == "length"


def test_rewards_judge_the_final_answer_and_see_the_episodes(tokenizer, monkeypatch):
    scripts = {"What is 347": [CALL, "9716"], "What is 2 + 2": ["5"]}
    monkeypatch.setattr(agentic, "generate", ScriptedPolicy(tokenizer, scripts))
    play = rollouts(tokenizer, [record("What is 347 * 28?", "9716"),
                                record("What is 2 + 2?", "4")])
    trainer = fake_trainer(tokenizer, [0, 1])
    play(["a", "b"], trainer)
    seen: dict[str, Any] = {}

    def exact(prompts, completions, answer, episodes, **kwargs):
        seen.update(completions=completions, episodes=episodes)
        return [float(c == a) for c, a in zip(completions, answer, strict=True)]

    logged: dict[str, float] = {}
    extra: dict[str, list[Any]] = {}
    judged = agentic.logging_episodes(agentic.judging_answers(exact))
    scores = judged(prompts=["a", "b"], completions=["whole episode text", "5"],
                    answer=["9716", "4"], environments=trainer.environments,
                    log_metric=logged.__setitem__, log_extra=extra.__setitem__)
    assert scores == [1.0, 0.0]
    assert seen["completions"] == ["9716", "5"]
    assert [e["tool_calls"] for e in seen["episodes"]] == [1, 0]
    assert logged["episodes/tool_calls"] == 0.5 and logged["episodes/turns"] == 1.5
    assert logged["episodes/stopped_answer"] == 1.0 and logged["episodes/parse_failures"] == 0
    assert extra == {"tool_calls": [1, 0], "stopped": ["answer", "answer"]}


# --- a run on the tiny model --------------------------------------------------------------


def agentic_config(tmp_path, *overrides: str):
    data = write_jsonl(tmp_path / "prompts.jsonl", [
        {"prompt": f"What is {a} * {b}?", "answer": str(a * b)}
        for a, b in [(12, 34), (56, 7), (8, 91), (23, 45)]])
    return load_config(None, [
        "model.path=tiny://qwen2", "template=qwen2",
        f"data.train=[{data}]", f"output.dir={tmp_path / 'run'}",
        "trainer={name: grpo, max_completion_length: 24}",
        "rewards=[accuracy]", "agent={environment: calculator, max_tool_calls: 1}",
        "training.per_device_train_batch_size=8", "training.max_steps=2",
        "training.logging_steps=1", "training.save_strategy=no", "training.report_to=[]",
        *overrides,
    ])


@pytest.mark.slow
def test_a_tiny_run_logs_its_episodes(tmp_path):
    """tiny://llama's own chat template renders no tools (as SmolLM2's): the episodes are
    rendered by the run's qwen2 template, and TRL's tool-template check is passed."""
    from tests.helpers import trainer_log

    train(agentic_config(tmp_path, "model.path=tiny://llama"), SESSION)
    run = tmp_path / "run"
    logged = [e for e in trainer_log(run) if "episodes/tool_calls" in e]
    assert len(logged) == 2 and all(0 <= e["episodes/stopped_length"] <= 1 for e in logged)
    episodes = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 16 and {e["step"] for e in episodes} == {0, 1}
    assert all(e["stopped"] in ("answer", "length", "max_tool_calls") for e in episodes)
    assert (run / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_a_run_resumes_from_its_checkpoint_and_its_episode_log_goes_on(tmp_path):
    """Stopped after step 1 (its checkpoint saved), then resumed to step 2: the second
    run starts at the checkpoint, and episodes.jsonl keeps the first run's episodes and
    adds the new step's, numbered on."""
    saving = ("training.save_strategy=steps", "training.save_steps=1")
    train(agentic_config(tmp_path, *saving, "training.max_steps=1"), SESSION)
    run = tmp_path / "run"
    assert (run / "checkpoint-1").is_dir()
    first = (run / "episodes.jsonl").read_text().splitlines()
    train(agentic_config(tmp_path, *saving, "training.max_steps=2"), SESSION, resume="auto")
    state = json.loads((run / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    lines = (run / "episodes.jsonl").read_text().splitlines()
    assert lines[:len(first)] == first and len(lines) == 2 * len(first) == 16
    assert [json.loads(x)["step"] for x in lines] == [0] * 8 + [1] * 8


@pytest.mark.slow
def test_a_reward_rises_through_episodes(tmp_path):
    """Learning goes through the episode path (rollout_func, env_mask, rewards judging the
    final answer): the tiny model raises the share of 'e' in its answers, as plain GRPO
    does (test_grpo), with a tool offered in every episode."""
    from tests.helpers import trainer_log
    from tests.tiny_data import SHARE_OF_E

    reward = tmp_path / "count_e.py"
    reward.write_text(SHARE_OF_E)
    tools = tmp_path / "tools.py"
    tools.write_text('def echo(text: str) -> str:\n    """Echo.\n\n    Args:\n'
                     '        text: Anything.\n    """\n    return text\n')
    config = agentic_config(
        tmp_path, f"rewards=[{reward}:share_of_e]", f"agent={{tools: ['{tools}:echo']}}",
        "peft.modules_to_save=[lm_head]", "training.max_steps=24",
        "training.learning_rate=1e-2", "training.lr_scheduler_type=constant")
    train(config, SESSION)
    means = [e["rewards/share_of_e/mean"] for e in trainer_log(tmp_path / "run")
             if "rewards/share_of_e/mean" in e]
    assert len(means) == 24
    assert sum(means[-5:]) / 5 > sum(means[:5]) / 5 + 0.1, means
