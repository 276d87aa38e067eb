"""The run's rewards, checked and combined: what the GRPO and PPO trainers use.

``load_rewards`` builds each ``rewards:`` entry of a run config into a
:class:`NamedReward`, whose call checks what the reward function returns: one number or
None per completion. A reward that raises, returns the wrong number of values or
something that is no number becomes a :class:`RewardError` naming the reward, its plugin
and the sample, instead of a crash deep inside TRL.

None means "this reward does not apply to this sample" (an accuracy reward for a record
without a reference answer). ``weighted_total`` leaves such rewards out of the sample's
weighted sum, as TRL's GRPO does (it sums with ``nansum``); the other weights are not
rescaled. A sample that no reward applies to has the total None.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugtune.core.config import RewardRef
from plugtune.core.errors import ConfigError, PluginError, PlugtuneError
from plugtune.core.importing import is_code_reference
from plugtune.sdk.reward_text import completion_text

if TYPE_CHECKING:
    from plugtune.core.registry import Component
    from plugtune.core.session import Session

SHOWN_CHARS = 60  # of a sample's completion, in error messages

class RewardError(PlugtuneError):
    """A reward function raised, or returned something other than one number (or None)
    per completion; the message names the reward, its plugin and the sample."""

    def __init__(self, message: str, *, reward: str, index: int | None = None) -> None:
        super().__init__(message)
        self.reward = reward
        self.index = index


RewardFunction = Callable[..., Sequence[Any]]


@dataclass(eq=False)
class NamedReward:
    """One reward of a run: its name (what TRL logs), weight and checked function.

    Call it like the function, ``reward(prompts, completions, **columns)``; it returns
    ``list[float | None]`` or raises :class:`RewardError`.
    """

    name: str
    weight: float
    fn: RewardFunction
    origin: str = "local code"

    @property
    def __name__(self) -> str:  # what TRL's get_callable_name reads
        return self.name

    @property
    def label(self) -> str:
        return f"reward {self.name!r} ({self.origin})"

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        count = len(completions)
        try:
            result = self.fn(prompts=prompts, completions=completions, **columns)
        except PlugtuneError as error:  # a missing package, a bad model: not one sample's fault
            raise RewardError(f"{self.label}: {error}", reward=self.name) from error
        except Exception as error:
            index = self._failing_sample(prompts, completions, columns)
            where = f"sample {index} ({_short(completions[index])})" if index is not None else (
                f"a batch of {count} samples (each alone passes)"
            )
            raise RewardError(
                f"{self.label} failed on {where}: {type(error).__name__}: {error}",
                reward=self.name, index=index,
            ) from error
        return self._checked(result, completions)

    def _checked(self, result: Any, completions: Sequence[Any]) -> list[float | None]:
        count = len(completions)
        if hasattr(result, "tolist") and not isinstance(result, list):  # numpy, torch
            result = result.tolist()
        if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Sequence):
            raise RewardError(
                f"{self.label} returned a {type(result).__name__}, not a list of one number "
                f"(or None) per completion",
                reward=self.name,
            )
        if len(result) != count:
            index = min(len(result), count - 1) if count else None
            detail = (
                f"; sample {index} ({_short(completions[index])}) has none"
                if len(result) < count else ""
            )
            raise RewardError(
                f"{self.label} returned {len(result)} rewards for {count} completions{detail}",
                reward=self.name, index=index if len(result) < count else None,
            )
        values: list[float | None] = []
        for index, value in enumerate(result):
            if value is None:
                values.append(None)
                continue
            number = float(value) if isinstance(value, numbers.Real) else math.nan
            if not isinstance(value, numbers.Real) or not math.isfinite(number):
                raise RewardError(
                    f"{self.label} returned {value!r} for sample {index} "
                    f"({_short(completions[index])}): expected a finite number, or None "
                    f"where the reward does not apply",
                    reward=self.name, index=index,
                )
            values.append(number)
        return values

    def _failing_sample(
        self, prompts: Sequence[Any], completions: Sequence[Any], columns: Mapping[str, Any]
    ) -> int | None:
        """The first sample the function fails on by itself (None: only the batch fails)."""
        count = len(completions)

        def one(values: Any, index: int) -> Any:
            is_column = isinstance(values, (list, tuple)) and len(values) == count
            return values[index : index + 1] if is_column else values

        for index in range(count):
            try:
                self.fn(
                    prompts=one(prompts, index),
                    completions=completions[index : index + 1],
                    **{key: one(values, index) for key, values in columns.items()},
                )
            except Exception:
                return index
        return None


def _short(completion: Any) -> str:
    text = completion_text(completion)
    shown = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
    return f"completion {shown!r}"


def load_rewards(
    refs: Sequence[RewardRef | Mapping[str, Any] | str], session: Session
) -> list[NamedReward]:
    """Build the config's ``rewards:`` entries (names, code references, options, weights).

    A name used twice (two ``accuracy`` rewards on different columns) is logged as
    ``accuracy``, ``accuracy_2``, …; a code reference ``file.py:fn`` as ``fn``.
    """
    rewards: list[NamedReward] = []
    taken: set[str] = set()
    for position, raw in enumerate(refs):
        ref = RewardRef.model_validate(raw)
        try:
            component = session.component("rewards", ref)
            fn = component.build(ref.options)
        except ConfigError as error:
            raise ConfigError(f"rewards[{position}]: {error}") from None
        if not callable(fn):
            raise PluginError(
                f"rewards[{position}]: {ref.name!r} built a {type(fn).__name__}, not a "
                f"function (prompts, completions, **columns) -> list[float | None]"
            )
        name = _unique(_display_name(ref.name), taken)
        rewards.append(NamedReward(name, ref.weight, fn, origin=_origin(component)))
    return rewards


def _display_name(reference: str) -> str:
    if not is_code_reference(reference):
        return reference
    location, _, attribute = reference.rpartition(":")
    if not location:  # a bare file.py
        return reference.rsplit("/", 1)[-1].removesuffix(".py")
    return attribute.rsplit(".", 1)[-1]


def _unique(name: str, taken: set[str]) -> str:
    unique, suffix = name, 2
    while unique in taken:
        unique, suffix = f"{name}_{suffix}", suffix + 1
    taken.add(unique)
    return unique


def _origin(component: Component) -> str:
    plugin = component.plugin
    if plugin.distribution:
        return f"{plugin.distribution} {plugin.version}" if plugin.version else plugin.distribution
    if is_code_reference(component.name) and component.name != plugin.name:
        return f"{plugin.name} {component.name}"
    return f"plugin {plugin.name}"


def weighted_total(
    rewards: Sequence[NamedReward],
    prompts: Sequence[Any],
    completions: Sequence[Any],
    **columns: Any,
) -> tuple[list[float | None], dict[str, list[float | None]]]:
    """Each sample's weighted sum of the rewards that apply to it, and each reward's values.

    None is left out of the sum (the other weights are not rescaled, as in TRL); the
    total is None when no reward applies to the sample.
    """
    values = [reward(prompts, completions, **columns) for reward in rewards]
    totals: list[float | None] = []
    for index in range(len(completions)):
        applying = [
            reward.weight * scores[index]
            for reward, scores in zip(rewards, values, strict=True)
            if scores[index] is not None
        ]
        totals.append(sum(applying) if applying else None)
    return totals, {reward.name: scores for reward, scores in zip(rewards, values, strict=True)}


def trl_reward_functions(
    rewards: Sequence[NamedReward],
) -> tuple[list[RewardFunction], list[float]]:
    """``(reward_funcs, reward_weights)`` for TRL's GRPO trainer and config.

    Each function is a plain function whose ``__name__`` is the reward's name, so TRL logs
    ``rewards/<name>/mean`` per reward; it calls the checked :class:`NamedReward`.
    """
    return [_plain_function(reward) for reward in rewards], [r.weight for r in rewards]


def _plain_function(reward: NamedReward) -> RewardFunction:
    def call(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[Any]:
        return reward(prompts, completions, **columns)

    call.__name__ = call.__qualname__ = reward.name
    call.__doc__ = getattr(reward.fn, "__doc__", None)
    return call
