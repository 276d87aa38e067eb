"""The pieces of PPO as pure tensor functions, each with its formula.

Shapes: ``(batch, T)`` over the completion tokens; ``mask`` is 1 on a completion's
tokens and 0 on the padding after it (a completion's tokens are a prefix of the row).
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum(values · mask) / sum(mask)`` (0 for an empty mask)."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL estimate of the policy from the reference at the sampled token:
    ``kl_t = log π(a_t|s_t) − log π_ref(a_t|s_t)`` (the "k1" estimator; its expectation
    over the policy's samples is KL(π ‖ π_ref))."""
    return logprobs - ref_logprobs


def rewards_with_kl(
    scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float
) -> torch.Tensor:
    """Per-token rewards: ``r_t = −kl_coef · kl_t`` on every completion token, plus the
    sequence's score on its last token: ``r_last += score``. Padding gets 0."""
    rewards = -kl_coef * kl * mask
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last] += scores * (mask.sum(dim=1) > 0)
    return rewards


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation, backwards over the tokens:

    ``δ_t = r_t + γ · V_{t+1} − V_t`` (``V`` is 0 past a completion's last token),
    ``A_t = δ_t + γ · λ · A_{t+1}``, and the returns (the value targets) ``R_t = A_t + V_t``.
    Returns ``(advantages, returns)``, 0 on padding.
    """
    batch, length = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(length)):
        if t + 1 < length:
            live = mask[:, t + 1]
            next_value = values[:, t + 1] * live
        else:
            live = next_value = torch.zeros_like(next_advantage)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = delta + gamma * lam * next_advantage * live
        advantages[:, t] = next_advantage
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x − mean) / sqrt(var + eps)`` over the masked entries (0 on padding)."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(variance + eps) * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_epsilon: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped surrogate loss, with ``ρ_t = exp(log π − log π_old)``:

    ``L = mean_t max(−A_t · ρ_t, −A_t · clip(ρ_t, 1 − ε, 1 + ε))``.
    Returns ``(loss, clip fraction)``: the share of tokens where the clipped term won.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    fraction = masked_mean((clipped > unclipped).float(), mask)
    return loss, fraction


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_value: float,
) -> torch.Tensor:
    """The clipped value loss:
    ``V^clip_t = V_old,t + clip(V_t − V_old,t, −c, c)``,
    ``L = ½ · mean_t max((V_t − R_t)², (V^clip_t − R_t)²)``."""
    clipped = old_values + torch.clamp(values - old_values, -clip_value, clip_value)
    return 0.5 * masked_mean(
        torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask
    )


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the token distribution:
    ``H = −Σ_v p_v log p_v = logsumexp(z) − Σ_v p_v z_v`` for logits ``z``."""
    probabilities = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probabilities * logits).sum(dim=-1)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``log softmax(z)[token]`` at each position: the log-probability of each token."""
    return torch.gather(torch.log_softmax(logits, dim=-1), 2, tokens.unsqueeze(-1)).squeeze(-1)


def adaptive_kl_coef(coef: float, kl: float, target: float, horizon: int, steps: int) -> float:
    """The adaptive KL controller of Ziegler et al. (2019), which steers the observed KL
    towards ``target`` instead of trusting one fixed coefficient for a whole run:
    ``e = clip(KL / target − 1, −0.2, 0.2)``, ``coef ← coef · (1 + e · steps / horizon)``,
    where ``steps`` counts the sequences seen since the last update."""
    error = min(max(kl / target - 1.0, -0.2), 0.2)
    return coef * (1.0 + error * steps / horizon)
