"""PPO: its formulas against values worked out by hand, and the trainer end to end on the
tiny model (online and offline batches, its outputs, its guards)."""

from __future__ import annotations

import math

import pytest
import torch

from plugtune import ConfigError, Session, load_config
from plugtune.plugins.trainers.ppo import ppo_math
from plugtune.training import train
from tests.conftest import write_jsonl
from tests.helpers import trainer_log
from tests.tiny_data import PROMPTS, SHARE_OF_E


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two threads on two shared cores crawl when anything else runs; one does not."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# --- the formulas, by hand ----------------------------------------------------------------


def test_gae_on_three_tokens_matches_the_hand_computation():
    rewards, values, mask = t([0.0, 0.0, 1.0]), t([0.5, 0.6, 0.7]), t([1.0, 1.0, 1.0])
    gamma, lam = 0.9, 0.8
    # δ2 = 1 + 0 - 0.7 = 0.3;  A2 = 0.3
    # δ1 = 0 + 0.9·0.7 - 0.6 = 0.03;  A1 = 0.03 + 0.72·0.3 = 0.246
    # δ0 = 0 + 0.9·0.6 - 0.5 = 0.04;  A0 = 0.04 + 0.72·0.246 = 0.21712
    advantages, returns = ppo_math.gae(rewards, values, mask, gamma, lam)
    assert advantages.tolist()[0] == pytest.approx([0.21712, 0.246, 0.3])
    assert returns.tolist()[0] == pytest.approx([0.71712, 0.846, 1.0])


def test_gae_stops_at_a_completions_end():
    # the second row ends after two tokens: its third position is padding
    rewards, values = t([0.0, 0.0, 1.0], [0.0, 2.0, 9.0]), t([0.5, 0.6, 0.7], [1.0, 1.0, 9.0])
    mask = t([1.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    advantages, returns = ppo_math.gae(rewards, values, mask, 1.0, 1.0)
    # row 2: A1 = 2 - 1 = 1 (no value past the end);  A0 = 0 + 1 - 1 + 1 = 1
    assert advantages.tolist()[1] == pytest.approx([1.0, 1.0, 0.0])
    assert returns.tolist()[1] == pytest.approx([2.0, 2.0, 0.0])
    assert advantages.tolist()[0] == pytest.approx([0.5, 0.4, 0.3])  # A_t = 1 - V_t


def test_rewards_put_the_score_on_the_last_token_and_the_kl_penalty_on_each():
    kl, mask = t([0.1, 0.2, 0.3], [0.4, 0.5, 7.0]), t([1.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    rewards = ppo_math.rewards_with_kl(t(2.0, -1.0), kl, mask, kl_coef=0.5)
    assert rewards.tolist()[0] == pytest.approx([-0.05, -0.1, 2.0 - 0.15])
    assert rewards.tolist()[1] == pytest.approx([-0.2, -1.0 - 0.25, 0.0])


def test_kl_estimate_is_the_log_ratio_to_the_reference():
    logprobs, ref = t([math.log(0.5), math.log(0.2)]), t([math.log(0.25), math.log(0.4)])
    assert ppo_math.kl_estimate(logprobs, ref).tolist()[0] == pytest.approx(
        [math.log(2), -math.log(2)]
    )


@pytest.mark.parametrize(("kl", "coef"), [
    (0.15, 0.2032),  # e = 0.15 / 0.1 − 1 = 0.5, clipped to 0.2: 0.2 · (1 + 0.2 · 8/100)
    (0.11, 0.2016),  # e = 0.1:  0.2 · (1 + 0.1 · 0.08)
    (0.05, 0.1968),  # e = −0.5, clipped to −0.2: 0.2 · (1 − 0.2 · 0.08)
])
def test_adaptive_kl_coef_moves_towards_the_target(kl, coef):
    assert ppo_math.adaptive_kl_coef(0.2, kl, target=0.1, horizon=100, steps=8) == \
        pytest.approx(coef)


@pytest.mark.parametrize(("ratio", "advantage", "loss", "clipped"), [
    (1.1, 2.0, -2.2, 0.0),    # inside the range: -A·ρ
    (1.5, 2.0, -2.4, 1.0),    # A > 0, ρ above 1 + ε: the gain stops at 1.2
    (0.5, 2.0, -1.0, 0.0),    # A > 0, ρ below 1 - ε: the unclipped (worse) term counts
    (0.9, -2.0, 1.8, 0.0),    # inside, A < 0
    (0.5, -2.0, 1.6, 1.0),    # A < 0, ρ below 1 - ε: no gain beyond 0.8
    (1.5, -2.0, 3.0, 0.0),    # A < 0, ρ above 1 + ε: the unclipped (worse) term counts
])
def test_clipped_policy_loss(ratio, advantage, loss, clipped):
    old = t([math.log(0.3)])
    new = old + math.log(ratio)
    value, fraction = ppo_math.policy_loss(new, old, t([advantage]), t([1.0]), 0.2)
    assert value.item() == pytest.approx(loss)
    assert fraction.item() == clipped


def test_clipped_value_loss():
    old, returns, mask = t([1.0, 1.0]), t([2.0, 0.0]), t([1.0, 1.0])
    # V moved 0.5 from V_old 1 (clip 0.2 keeps 1.2): token 1 max((1.5-2)², (1.2-2)²) = 0.64;
    # token 2 V = 0.5 (clipped 0.8): max(0.25, 0.64) = 0.64 -> ½ · mean = 0.32
    loss = ppo_math.value_loss(t([1.5, 0.5]), old, returns, mask, clip_value=0.2)
    assert loss.item() == pytest.approx(0.32)
    # inside the clip range both terms agree: ½ · 0.9²
    assert ppo_math.value_loss(t([0.9]), t([1.0]), t([0.0]), t([1.0]), 0.2).item() == (
        pytest.approx(0.5 * 0.81)
    )


def test_entropy_and_whitening():
    uniform = torch.zeros(1, 1, 4, dtype=torch.float64)
    assert ppo_math.entropy(uniform).item() == pytest.approx(math.log(4))
    certain = torch.tensor([[[0.0, -1e4]]], dtype=torch.float64)
    assert ppo_math.entropy(certain).item() == pytest.approx(0.0, abs=1e-9)
    white = ppo_math.whiten(t([1.0, 3.0, 100.0]), t([1.0, 1.0, 0.0]))
    assert white.tolist()[0] == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)


# --- the trainer on the tiny model ----------------------------------------------------------


@pytest.fixture(scope="module")
def session():
    return Session()


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "prompts.jsonl", PROMPTS)


def ppo_config(tmp_path, data, trainer, *overrides):
    reward = tmp_path / "count_e.py"
    reward.write_text(SHARE_OF_E)
    return load_config(None, [
        f"data.train=[{data}]",
        f"output.dir={tmp_path / 'run'}",
        f"trainer={trainer}",
        f"rewards=[{reward}:share_of_e]",
        "training.per_device_train_batch_size=8",
        "training.logging_steps=1",
        "training.save_strategy=no",
        # The tiny model's tied head caps how far a logit moves under LoRA (test_grpo.py).
        "peft.modules_to_save=[lm_head]",
        "training.learning_rate=1e-2",
        "training.lr_scheduler_type=constant",
        *overrides,
    ])


@pytest.mark.slow
def test_ppo_raises_a_learnable_reward_and_writes_its_outputs(tmp_path, prompts_file, session):
    # kl_coef 0: the per-token k1 estimate is noisy enough at this scale to drown the
    # reward (measured: kl_coef 0.01 stays near 0.09 after 24 steps).
    trainer = ("{name: ppo, max_new_tokens: 16, mini_batch_size: 4, num_ppo_epochs: 2, "
               "kl_coef: 0.0, lam: 1.0, value_loss_weight: 0.1}")
    # lr 5e-3 for 30 steps, not 1e-2 for 20: at 1e-2 the outcome hung on the seed (seed
    # 1: 0.06 -> 0.12 in 20 steps; 0.11 -> 0.04 with 4 PPO epochs), so the test passed or
    # failed with the RNG state other tests left. Measured at 5e-3 over seeds 1-6 and 42:
    # the first five steps' mean 0.08-0.09, the last five's 0.32-0.67 (the least, +0.24).
    metrics = train(ppo_config(tmp_path, prompts_file, trainer, "training.max_steps=30",
                               "training.learning_rate=5e-3"), session)
    output = tmp_path / "run"
    entries = trainer_log(output)
    assert [e["step"] for e in entries] == list(range(1, 31))
    means = [e["rewards/share_of_e/mean"] for e in entries]
    first, last = sum(means[:5]) / 5, sum(means[-5:]) / 5
    assert last > first + 0.15, means
    for key in ("reward", "kl", "policy_loss", "value_loss", "entropy", "clipfrac"):
        assert all(math.isfinite(e[key]) for e in entries), key
    assert all(e["online"] == 1.0 for e in entries)
    assert metrics["reward_last"] > metrics["reward_first"]
    assert (output / "adapter_model.safetensors").is_file()
    assert (output / "value_head.safetensors").is_file()
    assert (output / "tokenizer.json").is_file()
    for png in ("training_rewards.png", "training_kl.png"):
        assert (output / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((output / "runs").iterdir())  # TensorBoard events

    from plugtune.plugins.trainers.ppo.value_head import ValueHead

    head = ValueHead.load(output)
    assert head.linear.weight.abs().sum() > 0  # it trained


@pytest.mark.slow
def test_offline_batches_take_the_gold_answers(tmp_path, prompts_file, session):
    trainer = "{name: ppo, max_new_tokens: 8, mini_batch_size: 8, num_ppo_epochs: 1, " \
              "online_ratio: 0}"
    train(ppo_config(tmp_path, prompts_file, trainer, "training.max_steps=2"), session)
    entries = trainer_log(tmp_path / "run")
    assert [e["online"] for e in entries] == [0.0, 0.0]
    # the gold answers ("blue", "4", …) plus the end-of-turn token: a few tokens each
    assert all(1 < e["completions/mean_length"] < 8 for e in entries)
    assert entries[0]["kl"] == pytest.approx(0.0, abs=1e-4)  # the adapter starts as a no-op


@pytest.mark.slow
def test_kl_target_adapts_the_coefficient_each_step(tmp_path, prompts_file, session):
    trainer = ("{name: ppo, max_new_tokens: 8, mini_batch_size: 8, num_ppo_epochs: 1, "
               "kl_coef: 0.1, kl_target: 1000.0, kl_horizon: 80}")
    train(ppo_config(tmp_path, prompts_file, trainer, "training.max_steps=3"), session)
    coefs = [e["kl_coef"] for e in trainer_log(tmp_path / "run")]
    # KL far below the target: the error clips to −0.2 and each step of 8 sequences
    # scales the coefficient by 1 − 0.2 · 8/80 = 0.98.
    assert coefs == pytest.approx([0.1, 0.098, 0.09604])


def test_options_and_training_keys_are_checked(tmp_path, prompts_file, session):
    with pytest.raises(ConfigError, match="num_ppo_epoch"):
        train(ppo_config(tmp_path, prompts_file, "{name: ppo, num_ppo_epoch: 2}"), session)
    with pytest.raises(ConfigError, match="training.optim: not used by the ppo trainer"):
        train(ppo_config(tmp_path, prompts_file, "{name: ppo}", "training.optim=sgd",
                         "output.overwrite=true"), session)


# --- a reward model as the scorer -----------------------------------------------------------

MARKER = "banana"
# Chosen answers carry the marker word, rejected ones the same answer without it.
MARKER_PAIRS = [
    ("Name a color.", "blue"), ("What is two plus two?", "four"), ("Say hello.", "hello"),
    ("Write a word.", "tree"), ("Give a number.", "seven"), ("Name an animal.", "cat"),
    ("Name a fruit.", "apple"), ("Pick a letter.", "e"),
]


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory, session):
    """An rm run's output: a few steps on pairs whose chosen answers hold the marker."""
    folder = tmp_path_factory.mktemp("rm")
    pairs = write_jsonl(folder / "pairs.jsonl", [
        {"prompt": prompt, "chosen": f"{answer} {MARKER}", "rejected": answer}
        for prompt, answer in MARKER_PAIRS
    ])
    config = load_config(None, [
        f"data.train=[{pairs}]",
        f"output.dir={folder / 'out'}",
        "trainer=rm",
        "training.per_device_train_batch_size=8",
        "training.logging_steps=5",
        "training.save_strategy=no",
        "training.max_steps=10",
        "training.learning_rate=5e-3",
    ])
    train(config, session)
    return folder / "out"


@pytest.mark.slow
def test_reward_model_scorer_prefers_the_marker(reward_model_dir, session):
    from plugtune.core.records import Conversation, Message
    from plugtune.plugins.trainers.ppo.reward_model import load_reward_scorer

    config = load_config(None, [])
    scorer = load_reward_scorer(str(reward_model_dir), config, session)
    assert not scorer.model.training
    assert not any(p.requires_grad for p in scorer.model.parameters())
    prompts = [Conversation((Message("user", prompt),)) for prompt, _ in MARKER_PAIRS]
    with_marker = scorer.score(prompts, [f"{answer} {MARKER}" for _, answer in MARKER_PAIRS])
    without = scorer.score(prompts, [answer for _, answer in MARKER_PAIRS])
    assert sum(w > o for w, o in zip(with_marker, without, strict=True)) >= 7
    assert sum(with_marker) / 8 > sum(without) / 8
    # a prompt the rm never saw: the marker still wins
    unseen = [Conversation((Message("user", "Tell me something."),))]
    assert scorer.score(unseen, [f"a house {MARKER}"])[0] > scorer.score(unseen, ["a house"])[0]
    # batched scores (right-padded) equal one-at-a-time scores
    one_by_one = [scorer.score([p], [f"{a} {MARKER}"])[0]
                  for p, (_, a) in zip(prompts, MARKER_PAIRS, strict=True)]
    assert with_marker == pytest.approx(one_by_one, abs=1e-4)


@pytest.mark.slow
def test_reward_model_scorer_tokenizes_as_the_rm_trained(reward_model_dir, session):
    """The scored ids are the rm's training sequence: prompt + answer + end-of-turn."""
    from plugtune.core.records import Conversation, Message, Preference
    from plugtune.plugins.trainers.ppo.reward_model import load_reward_scorer
    from plugtune.plugins.trainers.preference.preference_rows import pair_rows

    config = load_config(None, [])
    scorer = load_reward_scorer(str(reward_model_dir), config, session)
    prompt = Conversation((Message("user", "Name a color."),), origin="x:1")
    pair = Preference(prompt, Message("assistant", f"blue {MARKER}"),
                      Message("assistant", "blue"))
    [row] = pair_rows([pair], scorer.template, scorer.tokenizer, config, whole=True)
    assert scorer.sequences([prompt, prompt], [f"blue {MARKER}", "blue"]) == [
        row["chosen_ids"], row["rejected_ids"]]


@pytest.mark.slow
def test_ppo_with_a_reward_model_and_no_reward_plugins(tmp_path, prompts_file, session,
                                                       reward_model_dir):
    trainer = (f"{{name: ppo, max_new_tokens: 8, mini_batch_size: 8, num_ppo_epochs: 1, "
               f"reward_model: {reward_model_dir}, reward_model_weight: 2.0}}")
    metrics = train(ppo_config(tmp_path, prompts_file, trainer, "training.max_steps=2",
                               "rewards=[]"), session)
    entries = trainer_log(tmp_path / "run")
    assert [e["step"] for e in entries] == [1, 2]
    for entry in entries:
        assert math.isfinite(entry["rewards/reward_model/mean"])
        # no reward plugins: the reward is the weighted reward-model score alone
        assert entry["reward"] == pytest.approx(2.0 * entry["rewards/reward_model/mean"],
                                                abs=1e-5)
        assert not any(key.startswith("rewards/") and key != "rewards/reward_model/mean"
                       for key in entry)
    assert math.isfinite(metrics["reward_last"])
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_ppo_adds_the_reward_model_to_the_reward_plugins(tmp_path, prompts_file, session,
                                                        reward_model_dir):
    trainer = (f"{{name: ppo, max_new_tokens: 8, mini_batch_size: 8, num_ppo_epochs: 1, "
               f"online_ratio: 0, reward_model: {reward_model_dir}}}")
    train(ppo_config(tmp_path, prompts_file, trainer, "training.max_steps=1"), session)
    [entry] = trainer_log(tmp_path / "run")
    assert entry["reward"] == pytest.approx(
        entry["rewards/share_of_e/mean"] + entry["rewards/reward_model/mean"], abs=1e-5)


def test_ppo_needs_rewards_or_a_reward_model(tmp_path, prompts_file, session):
    with pytest.raises(ConfigError, match="trainer.reward_model"):
        train(ppo_config(tmp_path, prompts_file, "{name: ppo}", "rewards=[]"), session)
    with pytest.raises(ConfigError, match="trainer.reward_model: .* is not a folder"):
        train(ppo_config(tmp_path, prompts_file,
                         f"{{name: ppo, reward_model: {tmp_path / 'missing'}}}",
                         "rewards=[]", "output.overwrite=true"), session)
