#!/usr/bin/env bash
# The quickstart: everything offline, on the tiny model plugtune builds itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

echo "== plugtune $(plugtune version): installed plugins"
plugtune plugins list

echo "== the tiny model (built once, then cached)"
model_dir=$(plugtune tiny-model path tiny://qwen2)
echo "$model_dir"

echo "== its chat template renders a conversation"
python - "$model_dir" <<'PY'
import sys
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
messages = [{"role": "user", "content": "What is LoRA?"},
            {"role": "assistant", "content": "A low-rank adapter."}]
print(tokenizer.apply_chat_template(messages, tokenize=False))
PY

echo "== the resolved run config"
plugtune config show examples/configs/quickstart.yaml --set training.seed=7

echo "== the training data as the trainer will see it (trained tokens in brackets)"
plugtune data preview examples/configs/quickstart.yaml -n 2
plugtune data stats examples/configs/quickstart.yaml

echo "== train a LoRA adapter (loss, lr and tokens/s on the progress bar)"
plugtune train examples/configs/quickstart.yaml
ls out/quickstart

echo "== predict with the trained adapter, and score the answers"
plugtune predict examples/configs/quickstart.yaml --set model.adapter=out/quickstart --split eval
head -c 600 out/quickstart/generated_predictions.jsonl; echo

echo "== merge the adapter into a standalone model"
plugtune export examples/configs/quickstart.yaml --to out/quickstart-merged
ls out/quickstart-merged
