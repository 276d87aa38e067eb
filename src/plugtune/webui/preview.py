"""The configure page's data preview: the first encoded examples with the trained
tokens marked, the template the data is encoded with, and each split's stats — what
``plugtune data preview`` and ``plugtune data stats`` print, as JSON for the page."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from plugtune.core.config import run_config
from plugtune.core.session import Session
from plugtune.webui.forms import refuse_code_references

EXAMPLES = 3
# Stats over the first records of each split: enough to see lengths and truncation
# while the page waits, without encoding a large dataset on every click.
STATS_RECORDS = 2000


def data_preview(data: dict[str, Any], session: Session, count: int = EXAMPLES
                 ) -> dict[str, Any]:
    """``{"template", "examples": [{"origin", "tokens", "pieces": [[text, trained]]}],
    "stats": {split: …}}`` for the form's config (checked first, like a launch)."""
    from plugtune.data.prepare import prepare
    from plugtune.data.preview import labelled_pieces
    from plugtune.data.stats import split_stats

    config = run_config(data, (), "form")
    refuse_code_references(config)  # before the registry could import a code reference
    config = session.validate(config)
    prepared = prepare(config, session, limit=STATS_RECORDS)
    batch_size = config.training.per_device_train_batch_size
    stats = {name: asdict(split_stats(split.examples, split.report, batch_size,
                                      config.data.cutoff_len))
             for name, split in prepared.splits.items()}
    train = prepared.splits.get("train")
    examples = [{"origin": example.origin, "tokens": len(example.input_ids),
                 "pieces": [[text, trained]
                            for text, trained in labelled_pieces(example, prepared.tokenizer)]}
                for example in (train.examples[:count] if train else [])]
    return {"template": prepared.template.name, "examples": examples, "stats": stats}
