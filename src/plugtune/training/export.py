"""The old path of :mod:`plugtune.deploy.export` (before 0.2.0): merging and saving a
model is deployment, not training. Its names still import from here, with a
``DeprecationWarning``, until 0.3.0."""

from plugtune.core.moved import forward

__getattr__ = forward(__name__)
