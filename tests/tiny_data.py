"""The small data sets several test files train on (the alignment trainers, grpo and
the multi-node runs): eight preference pairs a tiny model can learn to rank, eight
prompts with answers, and a learnable reward written as a file."""

from __future__ import annotations

# (prompt, chosen, rejected): the chosen answer is short and on topic.
PAIRS = [
    ("name a color", "blue", "the moon is made of cheese"),
    ("capital of france", "paris", "london is large"),
    ("two plus two", "four", "seven apples"),
    ("say hi", "hello there", "go away now"),
    ("largest planet", "jupiter", "a small rock"),
    ("opposite of hot", "cold", "purple sounds"),
    ("days in a week", "seven", "nine hundred"),
    ("color of grass", "green", "loud music"),
]

# Mixed answer types on purpose: rewards get them as they are (no Arrow column typing).
PROMPTS = [
    {"prompt": "Name a color.", "answer": "blue"},
    {"prompt": "What is two plus two?", "answer": 4},
    {"prompt": "Say hello.", "answer": "hello"},
    {"prompt": "Write a word.", "answer": "tree"},
    {"prompt": "Give a number.", "answer": 7},
    {"prompt": "Name an animal.", "answer": "cat"},
    {"prompt": "Name a fruit.", "answer": "apple"},
    {"prompt": "Pick a letter.", "answer": "e"},
]
# The share of the letter "e" among a completion's characters: about 0.08 for the
# random model, and learnable (every token holding an "e" counts).
SHARE_OF_E = '''
def share_of_e(completions, **columns):
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [t.lower().count("e") / max(len(t), 1) for t in texts]
'''
