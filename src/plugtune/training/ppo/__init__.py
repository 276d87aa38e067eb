"""plugtune's own PPO: a LoRA policy with a value head on its trunk, the run's rewards,
a KL penalty against the frozen reference (the adapter disabled), GAE and the clipped
losses. :mod:`.math` holds the formulas, :mod:`.rollout` the sampled or gold
completions, :mod:`.policy` the policy with its critic (:mod:`.value_head`) as one
trainable module, and :mod:`.loop` the rollout → score → optimise loop."""

from plugtune.training.ppo.loop import PPOLoop
from plugtune.training.ppo.value_head import VALUE_HEAD_FILE, ValueHead

__all__ = ["VALUE_HEAD_FILE", "PPOLoop", "ValueHead"]
