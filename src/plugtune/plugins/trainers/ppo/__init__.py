"""plugtune's own PPO: a LoRA policy with a value head on its trunk, the run's rewards,
a KL penalty against the frozen reference (the adapter disabled), GAE and the clipped
losses. :mod:`.trainer` is the plugin and its options, :mod:`.loop` the rollout → score
→ optimise loop (:mod:`.setup` builds its state), :mod:`.math` the formulas,
:mod:`.rollout` the sampled or gold completions, :mod:`.policy` the policy with its
critic (:mod:`.value_head`) as one trainable module, :mod:`.settings` what it reads
from ``training``, and :mod:`.reward_model` an ``rm`` run's model as a scorer."""

from plugtune.plugins.trainers.ppo.trainer import PPOOptions, ProximalPolicyOptimization

__all__ = ["PPOOptions", "ProximalPolicyOptimization"]
