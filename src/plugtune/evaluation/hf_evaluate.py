"""plugtune metrics as Hugging Face ``evaluate`` modules, written to a local folder.

``evaluate.load("bleu")`` fetches its script from the hub, so it fails offline; a local
module folder (``<dir>/<dir name>.py`` holding an ``evaluate.Metric`` subclass) loads
without network. :func:`write_module` writes such a folder whose ``_compute`` builds
the plugtune metric by name, so ``evaluate.load(folder).compute(...)`` gives the
plugin's own numbers. evaluate copies modules under ``$HF_HOME/modules`` (and keeps
state in ``$HF_HOME/metrics``): point ``HF_HOME`` somewhere writable.

``python -m plugtune.evaluation.hf_evaluate NAME DIR [KEY=JSON …]`` does the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.evaluation.metric_scores import needs_model

_MODULE = '''"""plugtune's {name!r} metric as a local Hugging Face evaluate module.

Written by plugtune.evaluation.hf_evaluate.write_module: scores come from the plugtune
plugin, built with the options below (compute(..., **options) adds to them).
"""

import datasets
import evaluate

from plugtune import Session

NAME = {name!r}
OPTIONS = {options}
_STRINGS = datasets.Sequence(datasets.Value("string"))


class {class_name}(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description={description!r},
            citation="",
            inputs_description="predictions: strings; references: a string or a list of "
            "strings (several references) per prediction",
            features=[
                datasets.Features({{"predictions": datasets.Value("string"),
                                    "references": _STRINGS}}),
                datasets.Features({{"predictions": datasets.Value("string"),
                                    "references": datasets.Value("string")}}),
            ],
        )

    def _compute(self, predictions, references, **options):
        metric = Session().build("metrics", {{"name": NAME, **OPTIONS, **options}})
        return metric(list(predictions), list(references))
'''


def write_module(name: str, folder: str | Path, **options: Any) -> Path:
    """Write plugtune's metric ``name`` (with ``options``) as the evaluate module folder
    ``folder`` (``folder/<folder name>.py``); returns the script. The metric is built
    once here, so a wrong name or option fails now rather than at ``evaluate.load``."""
    from plugtune.core.session import Session

    metric = Session().build("metrics", {"name": name, **options})
    if needs_model(metric):
        raise ConfigError(f"metric {name!r} scores with the model; an evaluate module "
                          "only sees predictions and references")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / f"{folder.name}.py"
    doc = (getattr(metric, "__doc__", None) or f"plugtune metric {name}").strip()
    script.write_text(
        _MODULE.format(
            name=name,
            options=repr(json.loads(json.dumps(options))),  # plain literals only
            class_name="PlugtuneMetric",
            description=doc.splitlines()[0],
        ),
        encoding="utf-8",
    )
    return script


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m plugtune.evaluation.hf_evaluate NAME DIR [KEY=JSON …]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not all("=" in arg for arg in args[2:]):
        print("usage: python -m plugtune.evaluation.hf_evaluate NAME DIR [KEY=JSON …]",
              file=sys.stderr)
        return 2
    options = {}
    for arg in args[2:]:
        key, _, value = arg.partition("=")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value  # a bare string: language=zh
    print(write_module(args[0], args[1], **options))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
