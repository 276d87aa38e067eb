"""``guess_number``: an environment with state and a reward of its own.

Each episode hides a number (the record's ``secret`` column); the model calls
``guess(number)`` and reads "higher", "lower" or "correct". The environment scores the
episode itself (``get_reward``): 1 for finding the number, less for each extra guess, 0
for never finding it — no reward plugin needed. Its public methods besides ``reset`` and
``get_reward`` are its tools: typed, with a Google-style docstring, from which plugtune
writes the schema the chat template shows the model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GuessNumberOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    penalty: float = Field(0.1, ge=0, le=1, description="Reward lost per extra guess.")


class GuessNumber:
    """Find a hidden number with higher/lower hints."""

    Options = GuessNumberOptions

    def __init__(self, penalty: float = 0.1) -> None:
        self.penalty = penalty
        self.secret = 0
        self.guesses: list[int] = []

    def reset(self, **columns: Any) -> str:
        self.secret, self.guesses = int(columns["secret"]), []
        return " Find it with the guess tool."

    def guess(self, number: int) -> str:
        """Guess the hidden number.

        Args:
            number: Your guess.

        Returns:
            "higher", "lower" or "correct".
        """
        self.guesses.append(number)
        if number == self.secret:
            return "correct"
        return "higher" if number < self.secret else "lower"

    def get_reward(self) -> float:
        if self.secret not in self.guesses:
            return 0.0
        return max(0.0, 1.0 - self.penalty * (len(self.guesses) - 1))
