"""A run, whatever its algorithm, from its config to its saved weights: :mod:`.train`
(``train(config, session)``: the trainer plugin, the locked output folder, what every
run leaves there), :mod:`.causal_lm` (transformers' ``Trainer`` loop sft and pt share;
``train_and_save`` and ``run_callbacks``, which every trainer uses),
:mod:`.finetuning` (the model made trainable by the ``peft`` plugin),
:mod:`.arguments` (``training`` as ``TrainingArguments``), :mod:`.callbacks`,
:mod:`.checkpoints`, :mod:`.graceful_stop` (SIGINT/SIGTERM: a checkpoint at the step,
then stop), :mod:`.distributed` (ranks), :mod:`.outputs` and :mod:`.plots` (the files a
run writes), :mod:`.ray_launch` (``plugtune train --ray``).

Plugins import these names from :mod:`plugtune.training`; the module paths here are the
library's own."""
