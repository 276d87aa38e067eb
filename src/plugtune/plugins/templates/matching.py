"""The old path of :mod:`plugtune.sdk.templates.matching` (before 0.2.0):
``normalize_chat_template``, ``digest_chat_template`` and ``match_chat_template`` still
import from here, with a ``DeprecationWarning``, until 0.3.0."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
