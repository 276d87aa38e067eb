"""The trainer of a LLaMA-Factory config: ``stage`` and ``pref_loss`` choose it, the
preference keys are its options (part of :mod:`.llamafactory`).

LLaMA-Factory's stage dpo computes every ``pref_loss`` in one trainer; plugtune runs each
algorithm as a trainer plugin of its own, TRL's underneath: ``sigmoid`` (DPO), ``hinge``
and ``ipo`` are losses of TRL's DPOTrainer (plugtune's ``dpo``, option ``loss_type``);
``orpo`` is TRL's ORPOTrainer (plugtune's ``orpo``) and ``simpo`` TRL's CPOTrainer with
its SimPO loss (plugtune's ``simpo``), both reference-free, as LLaMA-Factory runs them
(its ``use_ref_model`` is off for these two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugtune.plugins.config_readers.llamafactory import keys

if TYPE_CHECKING:
    from plugtune.plugins.config_readers.llamafactory.conversion import Conversion

# key -> the LLaMA-Factory stages that read it, and its meaning for each plugtune trainer
# one of those stages may become: an option name, or None where that trainer does not use
# it (noted: LLaMA-Factory ignores it there too). A trainer missing from the mapping
# cannot do what the key asks (refused).
OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "pref_beta": (("dpo", "kto"), {"dpo": "beta", "kto": "beta", "orpo": "beta",
                                   "simpo": "beta"}),
    "dpo_label_smoothing": (("dpo",), {"dpo": "label_smoothing", "orpo": None,
                                       "simpo": None}),
    "simpo_gamma": (("dpo",), {"simpo": "simpo_gamma", "dpo": None, "orpo": None}),
    "ld_alpha": (("dpo",), {"dpo": "ld_alpha"}),
    "kto_chosen_weight": (("kto",), {"kto": "desirable_weight"}),
    "kto_rejected_weight": (("kto",), {"kto": "undesirable_weight"}),
    "ref_model": (("dpo", "kto", "ppo"), {"dpo": "ref_model", "kto": "ref_model",
                                          "ppo": "ref_model", "orpo": None, "simpo": None}),
    "reward_model": (("ppo",), {"ppo": "reward_model"}),
}
FTX_AVERAGE = (
    "TRL averages that SFT term over all chosen-answer tokens of a batch, LLaMA-Factory "
    "over each answer's tokens and then over the answers (the same with one pair a batch)"
)


def map_trainer(conv: Conversion) -> None:
    """stage (and pref_loss) -> trainer; the preference keys -> its options."""
    trainer = conv.stage if conv.training else None
    loss = str(conv.get("pref_loss", keys.PREFERENCE_DEFAULTS["pref_loss"]))
    if trainer == "dpo":
        trainer = choose_loss(conv, loss)
    elif conv.has("pref_loss"):
        conv.note("pref_loss", "only used by stage dpo; has no effect")
    options: dict[str, Any] = {}
    for key, (stages, meanings) in OPTIONS.items():
        if conv.has(key):
            map_option(conv, key, stages, meanings, trainer, options)
    if trainer is None or trainer not in (*keys.STAGES, "orpo", "simpo"):
        return
    if trainer == "dpo":
        options.setdefault("loss_type", loss)
    if trainer in ("dpo", "kto", "orpo", "simpo"):
        options.setdefault("beta", keys.PREFERENCE_DEFAULTS["pref_beta"])
    if trainer == "simpo":
        options.setdefault("simpo_gamma", keys.PREFERENCE_DEFAULTS["simpo_gamma"])
    map_sft_weight(conv, trainer, options)
    if trainer == "ppo" and "reward_model" not in options:
        conv.refuse("stage", "ppo needs reward_model (a reward model trained with stage rm)")
    conv.put("trainer", {"name": trainer, **options} if options else trainer)


def choose_loss(conv: Conversion, loss: str) -> str | None:
    """The plugtune trainer of stage dpo with ``pref_loss`` ``loss``."""
    if loss in keys.PREFERENCE_LOSSES:
        return keys.PREFERENCE_LOSSES[loss]
    if loss == "kto_pair":
        conv.refuse("pref_loss", "kto_pair is no longer a loss of TRL's trainers: use stage "
                    "kto (plugtune's kto trains on each answer of a pair, labelled by side)")
    else:
        conv.refuse("pref_loss", f"unknown loss {loss!r}; LLaMA-Factory's are "
                    f"{', '.join(keys.PREFERENCE_LOSSES)}")
    return None


def map_option(conv: Conversion, key: str, stages: tuple[str, ...],
               meanings: dict[str, str | None], trainer: str | None,
               options: dict[str, Any]) -> None:
    value = conv.get(key)
    if trainer is None or conv.stage not in stages:
        conv.note(key, f"only used by stage {' and '.join(stages)}; has no effect")
    elif trainer not in meanings:
        conv.refuse(key, f"not a setting of plugtune's {trainer} (TRL's trainer for pref_loss "
                    f"{conv.keys.get('pref_loss')}); plugtune's dpo takes it, with pref_loss "
                    "sigmoid, hinge or ipo")
    elif meanings[trainer] is None:
        conv.note(key, f"not used by {trainer}, here as in LLaMA-Factory; has no effect")
    else:
        options[str(meanings[trainer])] = value


def map_sft_weight(conv: Conversion, trainer: str, options: dict[str, Any]) -> None:
    """``pref_ftx``: the weight of an SFT loss on the chosen answer, added to the
    preference loss (dpo: TRL's ``sft`` loss in a list; simpo: CPO's ``cpo_alpha``)."""
    weight = conv.keys.get("pref_ftx")
    if not weight or conv.stage != "dpo":
        return  # left to the table of unsupported keys: noted at its default 0
    conv.seen.add("pref_ftx")
    if trainer == "dpo":
        options.update(loss_type=[options["loss_type"], "sft"], loss_weights=[1.0, weight])
        conv.note("pref_ftx", f"dpo's loss_type [{options['loss_type'][0]}, sft] with "
                  f"loss_weights [1.0, {weight}]; {FTX_AVERAGE}")
    elif trainer == "simpo":
        options["cpo_alpha"] = weight
        conv.note("pref_ftx", f"simpo's cpo_alpha; {FTX_AVERAGE}")
    elif trainer == "orpo":
        conv.refuse("pref_ftx", "ORPO's loss already holds the SFT loss of the chosen "
                    "answer, weighted 1; plugtune's orpo (TRL's ORPOTrainer) has no second "
                    "weight: remove pref_ftx")
