"""The ``bracket`` chat template: a chat format declared as strings, nothing else.

A template turns a conversation into :class:`~plugtune.core.interfaces.Segment` pieces
that join to the rendered text, the answers (and the end-of-turn token that teaches the
model to stop) marked trainable. With :class:`~plugtune.sdk.templates.SlotTemplate` a
format is a handful of slot strings: the SDK builds the segments and the loss mask from
them, and writes the Jinja chat template (``jinja()``) that renders the same text, so a
run trained with ``template: bracket`` ships that Jinja in its output folder and its
exported tokenizer, and is served in the format it learned.

``<|im_end|>`` ends every turn: it is one token of the tiny qwen2 tokenizer (id 2),
and the first stop string, so backends stop generating on it.

    ### Question:
    What is 2+2?<|im_end|>
    ### Answer:
    4.<|im_end|>
"""

from __future__ import annotations

from typing import ClassVar

from plugtune.sdk.templates import Slots, SlotTemplate

END_OF_TURN = "<|im_end|>"


class BracketTemplate(SlotTemplate):
    """### Question / ### Answer turns ended by <|im_end|>, its Jinja written by the SDK
    from slots."""

    name = "bracket"
    stop_strings = (END_OF_TURN,)
    slots: ClassVar[Slots] = Slots(
        system="### System:\n{content}" + END_OF_TURN + "\n",
        user="### Question:\n{content}" + END_OF_TURN + "\n",
        assistant_header="### Answer:\n",
        assistant="{content}" + END_OF_TURN,  # trained: the answer and its stop token
        assistant_suffix="\n",  # not trained: nothing the model must learn to write
        generation_prompt="### Answer:\n",
    )
