"""The old path of :mod:`plugtune.sdk.testing` (before 0.2.0): ``check_chat_template``
still imports from here, with a ``DeprecationWarning``, until 0.3.0."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
