"""Load on the embedded server: a crowd of concurrent 20 MB uploads, 8 workers.

    python -m bench.bench_server_load [--crowd 50] [--size-mb 20] [--workers 8]

Each upload is a silent 4.2 s clip padded to the size with an MP4 ``free`` box, so Whisper (with its
VAD filter) spends a fraction of a second per video and the figures are about receiving, queueing and
indexing bookkeeping, not ASR on 2 cores. The baseline, in the same run and the same server process,
is its RSS after a warm-up crowd of one upload per worker, where its peak mark (``VmHWM``) is reset: the crowd's
peak over it shows whether memory grows with the crowd (uploads stream to disk, so it should not).

Fairness is read from the server's own timestamps: per task, how many later-created tasks became
ready before it (below the worker count under first in, first out), and the median and maximum wait.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests

from bench.common import local_server, machine_line, save_result, silent_videos
from tests.loadkit import (
    finished_task,
    overtakes,
    padded_copy,
    peak_rss_bytes,
    queue_summary,
    reset_peak_rss,
    upload_crowd,
)


def wait_finished(server, task_ids: list[str], timeout: float = 1800.0) -> list[dict]:
    """Poll each task until it is ready or failed (the bench's own clock only bounds the wait)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    with requests.Session() as session:
        while len(done) < len(task_ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(task_ids) - len(done)} task(s) not finished after {timeout:g} s")
            for task_id in task_ids:
                if task_id in done:
                    continue
                task = session.get(
                    f"{server.base_url}/tasks/{task_id}", headers={"x-api-key": server.api_key}, timeout=60
                ).json()
                if task["status"] in ("ready", "failed"):
                    done[task_id] = task
            time.sleep(0.2)
    return [done[task_id] for task_id in task_ids]


def run(crowd: int, size_mb: int, workers: int) -> dict:
    size = size_mb * 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        video = padded_copy(silent_videos(1, prefix="load")[0], Path(folder) / "load.mp4", size)
        with local_server(latency=0.0, workers=workers) as server:
            index_id = requests.post(
                f"{server.base_url}/indexes",
                headers={"x-api-key": server.api_key},
                json={"index_name": "bench-load", "models": [{"model_name": "marengo3.0", "model_options": ["audio"]}]},
                timeout=60,
            ).json()["_id"]
            warm = upload_crowd(server.root_url, server.api_key, index_id, [video] * workers)
            wait_finished(server, [answer.task_id for answer in warm])
            warm_peak = peak_rss_bytes(server.pid)
            baseline = reset_peak_rss(server.pid)

            began = time.perf_counter()
            answers = upload_crowd(server.root_url, server.api_key, index_id, [video] * crowd)
            uploaded = time.perf_counter() - began
            accepted = [a.task_id for a in answers if a.task_id]
            tasks = [finished_task(t) for t in wait_finished(server, accepted)]
            elapsed = time.perf_counter() - began
            peak = peak_rss_bytes(server.pid)
    passed_by = overtakes(tasks)
    return {
        "crowd": crowd,
        "size_mb": size_mb,
        "workers": workers,
        "answers": {str(code): sum(1 for a in answers if a.status == code) for code in sorted({a.status for a in answers})},
        "server_errors": sum(1 for a in answers if a.status >= 500),
        "ready": sum(1 for t in tasks if t.status == "ready"),
        "upload_phase_s": round(uploaded, 2),
        "total_s": round(elapsed, 2),
        "upload_mb_per_s": round(crowd * size / 1e6 / uploaded, 1),
        "end_to_end_mb_per_s": round(crowd * size / 1e6 / elapsed, 1),
        "videos_per_min": round(crowd / elapsed * 60, 1),
        "peak_rss_after_warm_up_mb": round(warm_peak / 1e6, 1),
        "rss_before_crowd_mb": round(baseline / 1e6, 1),
        "crowd_peak_rss_mb": round(peak / 1e6, 1),
        "rss_growth_mb": round((peak - baseline) / 1e6, 1),
        "crowd_bytes_mb": round(crowd * size / 1e6),
        "max_overtaken_by": max(passed_by.values()),
        **queue_summary(tasks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowd", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    print(machine_line())
    figures = run(args.crowd, args.size_mb, args.workers)
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    save_result("server_load", figures)


if __name__ == "__main__":
    main()
