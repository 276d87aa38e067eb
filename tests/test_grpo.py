"""GRPO on the tiny model: a reward it can learn rises; file rewards feed a run (a packaged
plugin's reward beside the built-ins: the example plugin's tests); the traps (batch
sizes, vLLM, failing rewards, cut-off completions) are named."""

from __future__ import annotations

import importlib.util
import logging
import textwrap

import pytest

from plugtune import ConfigError, Session, load_config
from plugtune.core.records import Conversation, Message, Preference
from plugtune.rewards import RewardError
from plugtune.training import train
from tests.conftest import write_jsonl
from tests.helpers import trainer_log
from tests.tiny_data import PROMPTS, SHARE_OF_E


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two threads on two shared cores crawl when anything else runs; one does not."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "prompts.jsonl", PROMPTS)


def grpo_config(tmp_path, data, rewards, *overrides,
                trainer="{name: grpo, max_completion_length: 16}"):
    return load_config(None, [
        f"data.train=[{data}]",
        f"output.dir={tmp_path / 'run'}",
        f"trainer={trainer}",
        f"rewards={rewards}",
        "training.per_device_train_batch_size=8",  # 2 prompts x 4 completions
        "training.logging_steps=1",
        "training.save_strategy=no",
        "training.report_to=[]",
        *overrides,
    ])


def write_reward(folder, name, source):
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


# --- a reward the tiny model learns -------------------------------------------------------


@pytest.mark.slow
def test_grpo_raises_a_learnable_file_reward(tmp_path, prompts_file, session):
    reward = write_reward(tmp_path, "count_e.py", SHARE_OF_E)
    # The tiny model's head is its random embedding matrix, tied and frozen under LoRA:
    # that caps how far any logit can move (|h| · |e| ≈ 16 × 0.32), so the head trains
    # too (modules_to_save), next to the LoRA adapters.
    config = grpo_config(
        tmp_path, prompts_file, f"[{reward}:share_of_e]",
        "peft.modules_to_save=[lm_head]", "training.max_steps=24",
        "training.learning_rate=1e-2", "training.lr_scheduler_type=constant",
    )
    train(config, session)
    output = tmp_path / "run"
    means = [e["rewards/share_of_e/mean"] for e in trainer_log(output)
             if "rewards/share_of_e/mean" in e]
    assert len(means) == 24
    first, last = sum(means[:5]) / 5, sum(means[-5:]) / 5
    # Measured here: 0.08 -> 0.40 (seed 42; other seeds 0.25 to 1.0 by step 25).
    assert last > first + 0.1, means
    assert (output / "adapter_model.safetensors").is_file()
    assert (output / "training_rewards.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the guards ---------------------------------------------------------------------------


def test_a_generation_batch_that_splits_groups_is_refused_with_the_fix(tmp_path, prompts_file,
                                                                       session):
    config = grpo_config(tmp_path, prompts_file, "[format]",
                         "training.per_device_train_batch_size=6")
    with pytest.raises(ConfigError) as caught:
        train(config, session)
    message = str(caught.value)
    assert "each generation batch must be a multiple of 4; it is 6" in message
    assert "Set training.per_device_train_batch_size to 4 or 8, or trainer.num_generations " \
        "to 2, 3 or 6." in message
    assert not (tmp_path / "run" / "trainer_log.jsonl").exists()  # refused before training


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_use_vllm_without_vllm_says_how_to_get_it(tmp_path, prompts_file, session):
    config = grpo_config(tmp_path, prompts_file, "[format]",
                         trainer="{name: grpo, use_vllm: true, vllm_mode: server}")
    with pytest.raises(ConfigError, match=r"vLLM is not installed.*`pip install vllm`"):
        train(config, session)


def test_no_rewards_is_refused(tmp_path, prompts_file, session):
    with pytest.raises(ConfigError, match="rewards: grpo learns from rewards"):
        train(grpo_config(tmp_path, prompts_file, "[]"), session)


def test_misspelt_options_are_refused(tmp_path, prompts_file, session):
    config = grpo_config(tmp_path, prompts_file, "[format]",
                         trainer="{name: grpo, num_generation: 4}")
    with pytest.raises(ConfigError, match="num_generation"):
        train(config, session)
    config = grpo_config(tmp_path, prompts_file, "[format]", "training.num_generations=4")
    with pytest.raises(ConfigError, match="a grpo option; set it as trainer"):
        train(config, session)


@pytest.mark.slow
def test_a_raising_reward_surfaces_as_a_reward_error(tmp_path, prompts_file, session):
    reward = write_reward(tmp_path, "fussy.py", '''
        def explode(completions, **columns):
            raise ValueError("cannot score this")
    ''')
    config = grpo_config(tmp_path, prompts_file, f"[format, {reward}:explode]",
                         "training.max_steps=1")
    with pytest.raises(RewardError, match=r"reward 'explode' .* failed on sample 0 .*"
                                          r"ValueError: cannot score this") as caught:
        train(config, session)
    assert caught.value.reward == "explode"


@pytest.mark.slow
def test_completions_cut_off_by_the_length_limit_warn_loudly(tmp_path, prompts_file, session,
                                                            caplog):
    config = grpo_config(tmp_path, prompts_file, "[format]", "training.max_steps=2",
                         trainer="{name: grpo, max_completion_length: 4}")
    with caplog.at_level(logging.WARNING, logger="plugtune.plugins.trainers.grpo.checks"):
        train(config, session)
    # The random model never emits its end-of-turn token.
    assert "100% of the completions were cut off at max_completion_length (4 tokens)" in (
        caplog.text
    )
    assert "the rewards collapse" in caplog.text and "Raise trainer.max_completion_length" in (
        caplog.text
    )
    assert len([r for r in caplog.records if "cut off" in r.message]) == 1  # 2 logs, 1 warning


# --- prompts --------------------------------------------------------------------------------


def test_prompts_are_rendered_by_the_template_and_carry_their_columns(session):
    from plugtune.core.config import ModelConfig
    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.training.rows.prompts import prompt_rows

    question = Message("user", "Two plus two?")
    records = [
        Conversation((question,), meta={"answer": 4, "level": "easy"}),
        Conversation((question, Message("assistant", "four"))),
        Preference(Conversation((question,)), Message("assistant", "4"),
                   Message("assistant", "5")),
    ]
    for model in ("tiny://qwen2", "tiny://llama"):
        tokenizer = load_tokenizer(ModelConfig(path=model))
        template = resolve_template(session, None, tokenizer)
        texts, columns = prompt_rows(records, template, tokenizer)
        expected = template.render(Conversation((question,)), add_generation_prompt=True)
        if tokenizer.bos_token:  # llama's tokenizer adds BOS itself: not a second one
            expected = expected.removeprefix(tokenizer.bos_token)
            assert tokenizer(texts[0]).input_ids.count(tokenizer.bos_token_id) == 1
        assert texts == [expected] * 3
        assert columns == [
            {"answer": 4, "level": "easy"},
            {"answer": "four"},
            {"answer": "4", "gold_answers": ["4"], "bad_answers": ["5"]},
        ]
