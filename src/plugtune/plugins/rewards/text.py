"""The old path of :mod:`plugtune.sdk.reward_text` (before 0.2.0): ``completion_text`` and
``prompt_text`` still import from here, with a ``DeprecationWarning``, until 0.3.0."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
