"""Batch throughput on Dask (two local worker processes) against the thread pool, same batch, same run.

    python -m bench.bench_dask [--n 48] [--latency 2] [--repeats 2]

Real parts: the local server (``--workers 8 --fault-latency L --vad``, as ``bench_batch``), a
``prefect server start`` (Dask needs a real API), a ``dask scheduler`` with two ``dask worker``
processes of 4 threads each (8 in flight, like ``--concurrency 8``). ``reelscribe run`` runs in
this process on the same N silent videos, alternately with the thread pool and with
``--dask tcp://…``, each into a fresh index and lake, after one warm-up run of each.

Figures: wall time per run, the ideal ``ceil(N/8)·L``, the ratio Dask/threads, and the client's
cost per video beyond the server's span (``(wall − span) / N``): what orchestration adds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.common import (
    FAULT_LATENCY,
    ideal_seconds,
    local_server,
    machine_line,
    reelscribe_run,
    save_result,
    silent_videos,
)
from tests.prockit import Children, DaskCluster, start_prefect_server

THREADS_PER_WORKER = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--latency", type=float, default=FAULT_LATENCY)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    videos = silent_videos(args.n)
    children = Children(Path(tempfile.mkdtemp(prefix="bench-dask-logs-")))
    try:
        url, env = start_prefect_server(children, Path(tempfile.mkdtemp(prefix="bench-prefect-")))
        os.environ["PREFECT_API_URL"] = url
        cluster = DaskCluster(children, env, threads=THREADS_PER_WORKER).start()
        runners = {"threads": (), "dask": ("--dask", cluster.address)}
        with local_server(latency=args.latency) as server:
            for name, extra in runners.items():
                reelscribe_run(server.base_url, server.api_key, videos[:2], label=f"warmup-{name}", extra=extra)
            runs: dict[str, list] = {name: [] for name in runners}
            for repeat in range(args.repeats):
                for name, extra in runners.items():
                    run = reelscribe_run(server.base_url, server.api_key, videos, label=f"{name}-{repeat}", extra=extra)
                    runs[name].append(run)
                    print(f"{name:8s} repeat {repeat}: {run.seconds:6.2f} s wall, server span {run.server_span:6.2f} s", flush=True)
    finally:
        children.stop_all()
    ideal = ideal_seconds(args.n, args.latency)
    figures = {"n": args.n, "latency_s": args.latency, "ideal_s": ideal, "workers": 2, "threads_per_worker": THREADS_PER_WORKER}
    for name, timings in runs.items():
        wall = statistics.median(t.seconds for t in timings)
        overhead = statistics.median((t.seconds - t.server_span) / args.n for t in timings)
        figures[name] = {
            "wall_s": round(wall, 3),
            "videos_per_s": round(args.n / wall, 3),
            "ratio_to_ideal": round(wall / ideal, 3),
            "client_s_per_video": round(overhead, 3),
        }
    figures["dask_over_threads"] = round(figures["dask"]["wall_s"] / figures["threads"]["wall_s"], 3)
    print(
        f"N={args.n}, L={args.latency} s, ideal {ideal:.1f} s | threads {figures['threads']['wall_s']:.2f} s "
        f"({figures['threads']['videos_per_s']:.2f} videos/s) | dask 2x{THREADS_PER_WORKER} {figures['dask']['wall_s']:.2f} s "
        f"({figures['dask']['videos_per_s']:.2f} videos/s) | dask/threads {figures['dask_over_threads']:.2f}x"
    )
    save_result("bench_dask", figures)


if __name__ == "__main__":
    main()
