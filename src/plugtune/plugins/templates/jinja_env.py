"""The old path of :mod:`plugtune.sdk.templates.jinja` (before 0.2.0):
``render_chat_template`` still imports from here, with a ``DeprecationWarning``, until
0.3.0."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
