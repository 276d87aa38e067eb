"""RLOO (TRL's RLOOTrainer) on grpo's machinery: a reward the tiny model can learn rises;
its own options reach TRL; episodes with tools are grpo's alone."""

from __future__ import annotations

import pytest

from plugtune import ConfigError, Session, load_config
from plugtune.training import train
from tests.conftest import write_jsonl
from tests.helpers import trainer_log
from tests.tiny_data import PROMPTS, SHARE_OF_E


def rloo_config(tmp_path, *overrides: str):
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    reward = tmp_path / "count_e.py"
    reward.write_text(SHARE_OF_E)
    return load_config(None, [
        f"data.train=[{data}]", f"output.dir={tmp_path / 'run'}",
        "trainer={name: rloo, max_completion_length: 16, beta: 0.0}",
        f"rewards=[{reward}:share_of_e]", "training.per_device_train_batch_size=8",
        "training.logging_steps=1", "training.save_strategy=no", "training.report_to=[]",
        *overrides,
    ])


@pytest.mark.slow
@pytest.mark.slow
def test_rloo_raises_a_learnable_reward(tmp_path):
    config = rloo_config(tmp_path, "peft.modules_to_save=[lm_head]", "training.max_steps=24",
                         "training.learning_rate=1e-2", "training.lr_scheduler_type=constant")
    train(config, Session())
    means = [e["rewards/share_of_e/mean"] for e in trainer_log(tmp_path / "run")
             if "rewards/share_of_e/mean" in e]
    assert len(means) == 24
    assert sum(means[-5:]) / 5 > sum(means[:5]) / 5 + 0.1, means


def test_rloo_options_are_checked_and_tools_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="loss_type"):
        Session().validate(rloo_config(tmp_path, "trainer={name: rloo, loss_type: dapo}"))
    config = rloo_config(tmp_path, "agent={environment: calculator}", "training.max_steps=1")
    with pytest.raises(ConfigError, match="episodes with tools train with grpo"):
        train(config, Session())
