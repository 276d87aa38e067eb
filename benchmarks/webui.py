"""The web UI on a long run: page load, first curve point, and a refresh of the curve
when the run has logged 10,000 steps.

A run folder with a generated ``trainer_log.jsonl`` of ``--steps`` entries is served by
``plugtune webui``'s app (uvicorn, in this process, over real HTTP). Measured, median of
``--repeat``: the page load (the HTML, its scripts and the API calls the page makes on
opening), the first curve point (the whole log, read once, as a reloaded page asks for
it), and a refresh while the run appends one step per refresh, asked from the last byte
offset (what the page does) against reading the file whole each time (what a page
without offsets would cost). Target: a refresh from the offset at least 10x cheaper.

    python benchmarks/webui.py [--steps 10000] [--repeat 21]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from machine import timed

PAGE = ("/", "/static/app.js", "/static/chart.js", "/static/configure.js",
        "/static/runs.js", "/static/use.js", "/static/style.css", "/api/form", "/api/runs")
TARGET_RATIO = 10.0


def write_run(runs: Path, steps: int) -> Path:
    """A finished run of ``steps`` logged steps (the shape JsonlLog writes)."""
    folder = runs / "long"
    folder.mkdir(parents=True)
    (folder / "run_config.yaml").write_text(f"training: {{max_steps: {steps}}}\n")
    (folder / "all_results.json").write_text("{}")
    with (folder / "trainer_log.jsonl").open("w") as log:
        for step in range(1, steps + 1):
            log.write(json.dumps({"step": step, "epoch": round(step / 100, 4),
                                  "loss": 2.0 / (1 + step / 1000), "grad_norm": 0.8,
                                  "learning_rate": 1e-4 * (1 - step / steps),
                                  "tokens": 512 * step, "elapsed": 0.2 * step}) + "\n")
    return folder / "trainer_log.jsonl"


def serve(runs: Path) -> tuple[str, Callable[[], None]]:
    import uvicorn

    from plugtune.webui.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runs), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join()

    return f"http://127.0.0.1:{port}", stop


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    def many() -> list[float]:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            work()
            timings.append(time.perf_counter() - started)
        return timings

    timings, _, foreign = timed(many)
    if foreign > 0.1:
        print(f"  (other processes used {foreign:.0%} of the machine)")
    return statistics.median(timings)


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        log = write_run(runs, args.steps)
        url, stop = serve(runs)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                client.get("/api/form")  # built once per server, like the first visitor
                page = median_seconds(lambda: [client.get(p) for p in PAGE], args.repeat)
                first = median_seconds(
                    lambda: client.get("/api/runs/long/log", params={"offset": 0}).json()
                    ["entries"][0], args.repeat)
                offset = client.get("/api/runs/long/log").json()["offset"]
                step = [args.steps]

                def append() -> None:
                    step[0] += 1
                    with log.open("a") as handle:
                        handle.write(json.dumps({"step": step[0], "loss": 1.0}) + "\n")

                def from_offset() -> None:
                    nonlocal offset
                    append()
                    offset = client.get("/api/runs/long/log", params={"offset": offset}
                                        ).json()["offset"]

                def whole() -> None:
                    append()
                    client.get("/api/runs/long/log", params={"offset": 0}).json()

                tail, full = (median_seconds(from_offset, args.repeat),
                              median_seconds(whole, args.repeat))
        finally:
            stop()
    ratio = full / tail
    print(f"run of {args.steps:,} logged steps ({log.name}), median of {args.repeat}")
    print(f"{'page load (HTML, scripts, /api/form, /api/runs)':52} {page * 1000:8.1f} ms")
    print(f"{'first curve point (the whole log, once)':52} {first * 1000:8.1f} ms")
    print(f"{'refresh from the last byte offset':52} {tail * 1000:8.1f} ms")
    print(f"{'refresh reading the file whole':52} {full * 1000:8.1f} ms")
    verdict = "OK" if ratio >= TARGET_RATIO else "UNDER TARGET"
    print(f"\noffset tailing is {ratio:.1f}x cheaper per refresh (target >= "
          f"{TARGET_RATIO:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
