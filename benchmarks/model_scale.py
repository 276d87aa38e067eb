"""Training throughput beyond a 5M-parameter model: plugtune against the lean Trainer +
PEFT loop on a model shaped like Qwen2.5-0.5B (random weights, built here offline), with
MFU against the matmul peak measured in the same run.

The tiny model's figures are mostly per-step overheads; this one's are matrix products.
The model is tiny://qwen2's tokenizer and chat template with Qwen2.5-0.5B's config
(24 layers, hidden 896, 14 heads / 2 KV heads, MLP 4864, vocabulary 151,936, tied
embeddings), its weights drawn at random (seeded) and saved as safetensors. The
contenders are benchmarks/training.py's own (the same workers, data, LoRA and timer),
with a smaller batch: ``plugtune train``, the same with padded batches, the same with
the output layer on every position, and the lean loop.

MFU = 4 x N x non-pad tokens/s / peak FLOP/s. A LoRA step's matrix products per token
are the forward pass (2N) and the input gradients (2N): the frozen matrices get no
weight gradient, so the full-training 6N would claim work that is not done. N counts
the parameters outside the embedding / output layer (358M of 494M here); the output
layer is left out because plugtune skips it on prompt positions and the lean loop does
not, so counting it would credit one contender with work it avoids. Padding is not
counted as useful. The peak is the best of ten ``torch.mm`` of 2048 x 2048 matrices in
the run's dtype on the same device, timed just before the runs.

On a GPU every contender trains there, in bfloat16 by default (``--dtype``), and the
table names the GPU; on the CPU, in float32.

    python benchmarks/model_scale.py [--steps 8] [--warmup 2] [--batch 2] [--dtype D]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
RESULTS = REPO / "benchmarks" / "results" / "model_scale.md"
QWEN25_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
              "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
              "max_position_embeddings": 32768, "tie_word_embeddings": True,
              "layer_types": ["full_attention"] * 24, "max_window_layers": 24}
CONTENDERS = {"plugtune": "plugtune train",
              "plugtune-padded": "plugtune train, padded batches",
              "plugtune-all-logits": "plugtune train, output layer on every position",
              "lean": "lean Trainer + PEFT (LLaMA-Factory's loop)"}


def sized_model(folder: Path) -> tuple[Path, int]:
    """tiny://qwen2's tokenizer with Qwen2.5-0.5B's shape and random weights; the
    folder and its parameter count outside the (tied) embedding."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from plugtune.models.sources import resolve_model_path

    tiny = Path(resolve_model_path("tiny://qwen2"))
    shutil.copytree(tiny, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    config = AutoConfig.from_pretrained(tiny)
    for key, value in QWEN25_05B.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder)
    embedding = model.get_input_embeddings().weight.numel()
    return folder, sum(p.numel() for p in model.parameters()) - embedding


def matmul_peak(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """The best FLOP/s of ``torch.mm`` on two ``size`` x ``size`` matrices of ``dtype``,
    on the GPU when there is one (else the CPU's cores)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype), device=device)
            for _ in range(2))
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def report(results: dict[str, dict[str, Any]], params: int, peak: float,
           args: argparse.Namespace) -> str:
    from importlib.metadata import version

    lines = [f"# Training at 0.5B scale ({datetime.date.today()})", "",
             f"`python benchmarks/model_scale.py --steps {args.steps} --warmup {args.warmup} "
             f"--batch {args.batch} --dtype {args.dtype}`", "",
             "| contender | non-pad tok/s | steps/s | MFU | peak RSS MiB | other load |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, label in CONTENDERS.items():
        r = results[name]
        mfu = 4 * params * r["tokens_per_s"] / peak
        lines.append(f"| {label} | {r['tokens_per_s']:,.1f} | {r['steps_per_s']:.3f} | "
                     f"{mfu:.1%} | {r['peak_rss_mib']:,.0f} | {r['foreign']:.0%} |")
    speed = {name: results[name]["tokens_per_s"] for name in results}
    lines += ["", f"- plugtune / lean: **{speed['plugtune'] / speed['lean']:.2f}x**",
              f"- padding-free / padded batches: "
              f"**{speed['plugtune'] / speed['plugtune-padded']:.2f}x**",
              f"- output layer on trained positions only / on every position: "
              f"**{speed['plugtune'] / speed['plugtune-all-logits']:.2f}x**", "",
              f"Model: Qwen2.5-0.5B's shape, random weights ({params / 1e6:,.0f}M parameters "
              "outside the embedding, as MFU counts them), "
              f"{args.dtype}; LoRA r=8 on every linear layer; alpaca_en_demo, cutoff 256, "
              f"batch {args.batch}; {args.steps} steps, the first {args.warmup} not timed. "
              f"Matmul peak {peak / 1e9:,.1f} GFLOP/s ({args.dtype}, 2048^3, best of 10). "
              f"Device: {device_name()}; torch {version('torch')}, "
              f"transformers {version('transformers')}, peft {version('peft')}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        help="default: bfloat16 on a GPU, float32 on the CPU")
    args = parser.parse_args()
    import torch

    args.dtype = args.dtype or ("bfloat16" if torch.cuda.is_available() else "float32")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        model, params = sized_model(Path(work) / "qwen2.5-0.5b-random")
        os.environ["PLUGTUNE_BENCH_MODEL"] = str(model)
        os.environ["PLUGTUNE_BENCH_BATCH"] = str(args.batch)
        os.environ["PLUGTUNE_BENCH_DTYPE"] = args.dtype
        import training  # reads the model and batch above; its workers inherit them

        peak = matmul_peak(args.dtype)
        results = {}
        for name, label in CONTENDERS.items():
            results[name] = training.launch(name, training.alpaca_path(), args.steps,
                                            args.warmup)
            print(f"{label}: {results[name]['tokens_per_s']:,.1f} tok/s", flush=True)
    text = report(results, params, peak, args)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps({"params": params, "peak_gflops": peak / 1e9}))


if __name__ == "__main__":
    main()
