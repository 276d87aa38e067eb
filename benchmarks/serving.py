"""Server throughput and latency: ``plugtune serve`` under 1, 8, 32 and 64 concurrent
clients against the same requests sent one by one, and with a share of the clients
leaving early.

One real ``plugtune serve`` process (transformers backend, tiny://qwen2, fp32, batch
``--batch``) answers every row. Each row sends the same ``--requests`` chat requests
(alpaca_en_demo instructions, greedy, ``--tokens`` new tokens at most):

- one by one: one client, each request after the previous answer (the baseline);
- C concurrent clients: C threads, each sending its share of the requests one after
  another (closed-loop clients, as a pool of workers calls a server);
- leaving early: at 32 clients, every other request is streamed and its client closes
  the connection after the first piece of its answer; the server must stop generating for it (its
  batch row freed), so the clients that stay are answered sooner than when everybody
  stays. The "everybody stays" row is the 32-client row.
- beside a long answer: one streamed request generating ``--long-tokens`` tokens
  while 8 clients send 16 short requests, on a server with ``--lanes 1`` and with
  ``--lanes 2``: with one lane the short ones wait for the long one's batch; with two
  they go through the other lane.

Throughput is generated tokens per second as the server reports them (``usage``);
latency is each request's wall time at the client, p50 and p95. Ratios are against the
one-by-one row of the same run. A row during which other processes used over 10% of the
machine is timed again (up to 3 tries).

    python benchmarks/serving.py [--requests 64] [--tokens 32] [--batch 16] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference import prompt_file
from machine import CORES, IDLE_SHARE, TRIES, timed
from served import Server

RESULTS = Path(__file__).resolve().parent / "results" / "serving.md"
CONCURRENCY = (1, 8, 32, 64)
LEAVING_CLIENTS = 32
SHORT_CLIENTS, SHORT_REQUESTS = 8, 16


@dataclass
class Outcome:
    """One request as its client saw it."""

    seconds: float
    tokens: int
    stayed: bool = True


@dataclass
class Row:
    label: str
    outcomes: list[Outcome]
    seconds: float
    foreign: float

    @property
    def answered(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.stayed]

    @property
    def tokens_per_s(self) -> float:
        return sum(outcome.tokens for outcome in self.answered) / self.seconds

    def latency(self, share: float) -> float:
        times = sorted(outcome.seconds for outcome in self.answered)
        return times[min(len(times) - 1, round(share * (len(times) - 1)))]


def ask(client: Any, url: str, messages: list[dict[str, str]], tokens: int) -> Outcome:
    """A whole answer; its generated tokens from ``usage``."""
    started = time.perf_counter()
    response = client.post(f"{url}/chat/completions", timeout=600, json={
        "messages": messages, "temperature": 0, "max_tokens": tokens})
    response.raise_for_status()
    used = response.json()["usage"]["completion_tokens"]
    return Outcome(time.perf_counter() - started, int(used))


def ask_and_leave(client: Any, url: str, messages: list[dict[str, str]],
                  tokens: int) -> Outcome:
    """A streamed request whose client closes the connection after the first piece of
    its answer (the chunk after the one that names the role)."""
    started = time.perf_counter()
    with client.stream("POST", f"{url}/chat/completions", timeout=600, json={
            "messages": messages, "temperature": 0, "max_tokens": tokens,
            "stream": True}) as response:
        response.raise_for_status()
        events = (line for line in response.iter_lines() if line.startswith("data: "))
        next(events), next(events)
    return Outcome(time.perf_counter() - started, 0, stayed=False)


def clients_run(server: Server, questions: list[list[dict[str, str]]], clients: int,
                tokens: int, leaving: bool = False) -> list[Outcome]:
    """``questions`` sent by ``clients`` closed-loop clients (each its share, in turn);
    ``leaving``: every other request is one whose client leaves early."""
    import httpx

    def client_work(first: int) -> list[Outcome]:
        with httpx.Client() as client:
            outcomes = []
            for index in range(first, len(questions), clients):
                send = ask_and_leave if leaving and index % 2 else ask
                outcomes.append(send(client, server.url, questions[index], tokens))
            return outcomes

    with ThreadPoolExecutor(clients) as pool:
        return [outcome for part in pool.map(client_work, range(clients)) for outcome in part]


def beside_a_long_answer(server: Server, questions: list[list[dict[str, str]]],
                         tokens: int, long_tokens: int) -> list[Outcome]:
    """Short requests sent while one long streamed answer is being generated (its
    client leaves once they are answered)."""
    import httpx

    started = threading.Event()

    def long_answer() -> None:
        with httpx.Client() as client, client.stream(
                "POST", f"{server.url}/chat/completions", timeout=600, json={
                    "messages": questions[0], "temperature": 0, "max_tokens": long_tokens,
                    "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and len(line) > 6:
                    started.set()
                if shorts_done.is_set():
                    return

    shorts_done = threading.Event()
    runner = threading.Thread(target=long_answer, daemon=True)
    runner.start()
    started.wait(60)
    outcomes = clients_run(server, questions[1:SHORT_REQUESTS + 1], SHORT_CLIENTS, tokens)
    shorts_done.set()
    runner.join(600)
    return outcomes


def measure(server: Server, questions: list[list[dict[str, str]]], tokens: int) -> list[Row]:
    def row(label: str, work: Callable[[], list[Outcome]]) -> Row:
        outcomes, seconds, foreign = timed(work)
        print(f"  {label}: {seconds:.2f} s", flush=True)
        return Row(label, outcomes, seconds, foreign)

    clients_run(server, questions[:8], 8, tokens)  # warm-up
    rows = [row("one by one", lambda: clients_run(server, questions, 1, tokens))]
    for clients in CONCURRENCY:
        rows.append(row(f"{clients} concurrent client{'s' if clients > 1 else ''}",
                        lambda clients=clients: clients_run(server, questions, clients,
                                                            tokens)))
    rows.append(row(f"{LEAVING_CLIENTS} clients, half leaving after their first piece",
                    lambda: clients_run(server, questions, LEAVING_CLIENTS, tokens,
                                        leaving=True)))
    return rows


def report(rows: list[Row], lanes: list[Row], args: argparse.Namespace, threads: str,
           load: tuple[float, float]) -> str:
    base = rows[0]
    stays = next(row for row in rows if row.label == f"{LEAVING_CLIENTS} concurrent clients")
    lines = ["| clients | answered | seconds | tokens/s | x one by one | p50 latency s | "
             "p95 latency s | other load |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.label} | {len(row.answered)}/{len(row.outcomes)} | "
                     f"{row.seconds:.2f} | {row.tokens_per_s:,.0f} | "
                     f"{row.tokens_per_s / base.tokens_per_s:.1f}x | {row.latency(0.5):.2f} | "
                     f"{row.latency(0.95):.2f} | {row.foreign:.0%} |")
    lines += ["", f"{SHORT_REQUESTS} short requests from {SHORT_CLIENTS} clients while one "
              f"answer of {args.long_tokens} tokens is generated:", "",
              "| server | seconds | p50 latency s | p95 latency s | other load |",
              "|---|---:|---:|---:|---:|"]
    for row in lanes:
        lines.append(f"| {row.label} | {row.seconds:.2f} | {row.latency(0.5):.2f} | "
                     f"{row.latency(0.95):.2f} | {row.foreign:.0%} |")
    leaving = rows[-1]
    left = [outcome.seconds for outcome in leaving.outcomes if not outcome.stayed]
    lines += [
        "",
        f"- best concurrent throughput / one by one: **"
        f"{max(row.tokens_per_s for row in rows[1:-1]) / base.tokens_per_s:.1f}x**",
        f"- clients that stay while half of the others leave early: p50 latency "
        f"{leaving.latency(0.5):.2f} s, against {stays.latency(0.5):.2f} s when all "
        f"{LEAVING_CLIENTS} stay. The server stops generating for a closed connection at "
        "the next step, but in the transformers backend a stopped row's slot stays empty "
        "until its batch ends, so the others gain little (vLLM gives the slot away). The "
        f"leaving clients got their first piece after {statistics.median(left):.2f} s "
        "(median)",
        f"- short requests beside a long answer, p50 latency with 2 lanes: **"
        f"{lanes[0].latency(0.5) / lanes[1].latency(0.5):.1f}x** lower than with 1",
        "",
        f"{args.requests} requests (alpaca_en_demo instructions, the model's chat "
        f"template), tiny://qwen2, fp32, greedy, at most {args.tokens} new tokens, server "
        f"batch {args.batch}, torch threads {threads}; one `plugtune serve` process for "
        "the first table, one per row for the second. "
        "Tokens: generated tokens as the server's usage reports them (leaving clients "
        f"count none). A row during which other processes used over {IDLE_SHARE:.0%} of "
        f"the machine (\"other load\") is timed again (up to {TRIES} tries).",
        f"Machine: {platform.machine()}, {CORES} cores, Python {platform.python_version()}; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32, help="max_tokens of each request")
    parser.add_argument("--batch", type=int, default=16, help="the server's batch size")
    parser.add_argument("--long-tokens", type=int, default=1000,
                        help="the long answer beside which short requests are sent")
    parser.add_argument("--threads", type=int, help="the server's torch threads")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        folder = Path(name)
        rows_file = json.loads(prompt_file(folder, args.requests).read_text(encoding="utf-8"))
        questions = [[{"role": "user", "content": f"{row['instruction']}\n{row['input']}"
                       .strip()}] for row in rows_file]
        questions = (questions * (args.requests // max(1, len(questions)) + 1))[:args.requests]
        with Server(folder, args.threads, new_tokens=args.tokens, batch=args.batch,
                    options=["--max-queue", str(4 * args.requests)]) as server:
            rows = measure(server, questions, args.tokens)
        lanes = []
        for count in (1, 2):
            with Server(folder, args.threads, new_tokens=args.tokens, batch=args.batch,
                        options=["--lanes", str(count)]) as server:
                clients_run(server, questions[:4], 4, args.tokens)  # warm-up
                outcomes, seconds, foreign = timed(lambda server=server: beside_a_long_answer(
                    server, questions, args.tokens, args.long_tokens))
                print(f"  beside a long answer, {count} lane(s): {seconds:.2f} s", flush=True)
                lanes.append(Row(f"--lanes {count}", outcomes, seconds, foreign))
    threads = str(args.threads) if args.threads else "torch's default"
    table = report(rows, lanes, args, threads, (load_before, os.getloadavg()[0]))
    print("\n" + table)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.date.today().isoformat()
        RESULTS.write_text(f"# Serving throughput and latency ({stamp})\n\n`python "
                           f"benchmarks/serving.py {' '.join(sys.argv[1:])}`\n\n{table}\n",
                           encoding="utf-8")


if __name__ == "__main__":
    main()
