"""The old path of :mod:`plugtune.sdk.templates.slots` (before 0.2.0): ``Slots``,
``SlotTemplate``, ``CHATML_SLOTS`` and ``fill`` still import from here, with a
``DeprecationWarning``, until 0.3.0. plugtune's own templates import the SDK."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
