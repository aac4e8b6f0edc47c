"""Batch throughput: wall time of ``reelscribe run`` on N short videos against the ideal bound.

    python -m bench.bench_batch [--ns 8,24,48,100] [--latency 2] [--workers 8] [--no-vad] [--repeats 1] [--py-spy]

The real local server (``--workers 8 --fault-latency 2 --vad``: every task sleeps L = 2 s in its
worker thread before the real faster-whisper engine runs on it, so 8 tasks sleep in parallel; the
VAD filter makes the engine's work on silence small) indexes N distinct silent 4.2 s videos. ``reelscribe run`` runs **in this process** (``reelscribe.cli.main``,
what the console script calls) after a warm-up run that starts Prefect's temporary API server and
loads the server's Whisper model; those one-off start-up costs are excluded.

Figures per N: the wall time; the ideal bound ``ceil(N/8)·L``; the engine time per task
measured from the server's log (the gap between two ready marks of one worker thread, minus L) and
the bound including it, ``ceil(N/8)·(L + engine)``; the server's own span (first upload received to
last task ready); and the client's share: ``head`` (run start to first upload received) and
``tail`` (last task ready to run end). Goal: wall ≤ 1.15 × ceil(N/8)·L at N = 100.

A diagnostic run follows at the largest N: the same pipeline through reelscribe's core calls in 8
plain threads (upload pool, wait+land pool), no Prefect (``bench.common.core_run``): the difference
is the orchestration's cost.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    FAULT_LATENCY,
    core_run,
    cpu_snapshot,
    OUT,
    SERVER_WORKERS,
    engine_seconds_per_task,
    ideal_seconds,
    local_server,
    machine_line,
    read_server_log,
    reelscribe_run,
    save_result,
    silent_videos,
    warm_up,
)

GOAL = 1.15


def measure_n(server, videos, n: int, latency: float, workers: int) -> dict:
    since, cpu_before = time.time(), cpu_snapshot(server.pid)
    run = reelscribe_run(server.base_url, server.api_key, videos[:n], label=f"batch-{n}")
    cpu = {name: round(value - cpu_before[name], 2) for name, value in cpu_snapshot(server.pid).items()}
    log = read_server_log(server.log_path, since)
    engine = engine_seconds_per_task(log, [t.id for t in run.tasks], latency)
    engine_mean = statistics.mean(engine) if engine else None
    rounds = -(-n // workers)
    ideal = ideal_seconds(n, latency, workers)
    row = {
        "n": n,
        "wall_s": round(run.seconds, 3),
        "ideal_s": ideal,
        "ratio": round(run.seconds / ideal, 3),
        "engine_s_per_task": None if engine_mean is None else round(engine_mean, 3),
        "ideal_with_engine_s": None if engine_mean is None else round(rounds * (latency + engine_mean), 3),
        "server_span_s": round(run.server_span, 3),
        "head_s": round(run.head, 3),
        "tail_s": round(run.tail, 3),
        "status_polls_per_video": round(sum(len(log.polls.get(t.id, [])) for t in run.tasks) / n, 2),
        "cpu_s": cpu,
    }
    if row["ideal_with_engine_s"]:
        row["ratio_with_engine"] = round(run.seconds / row["ideal_with_engine_s"], 3)
    return row


def print_row(row: dict) -> None:
    engine = "n/a" if row["engine_s_per_task"] is None else f"{row['engine_s_per_task']:.2f}"
    with_engine = "n/a" if row["ideal_with_engine_s"] is None else f"{row['ideal_with_engine_s']:.1f}"
    print(
        f"{row['n']:>5}{row['wall_s']:>9.1f}{row['ideal_s']:>8.1f}{row['ratio']:>8.2f}x"
        f"{engine:>9}{with_engine:>10}{row['server_span_s']:>9.1f}{row['head_s']:>7.1f}{row['tail_s']:>7.1f}"
        f"{row['status_polls_per_video']:>7.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", default="8,24,48,100", help="batch sizes, comma-separated (the largest is the headline)")
    parser.add_argument("--latency", type=float, default=FAULT_LATENCY, help="server --fault-latency, seconds")
    parser.add_argument("--workers", type=int, default=SERVER_WORKERS, help="server --workers")
    parser.add_argument("--repeats", type=int, default=1, help="runs per N (the best is reported)")
    parser.add_argument("--vad", action=argparse.BooleanOptionalAction, default=True,
                        help="server --vad (the bench's default) or --no-vad (Whisper decodes the silence: the engine dominates)")
    parser.add_argument("--no-core", action="store_true", help="skip the diagnostic run of the core pipeline without Prefect")
    parser.add_argument("--py-spy", action="store_true", help="record the largest run with py-spy (collapsed stacks in bench/out)")
    args = parser.parse_args()
    ns = sorted({int(n) for n in args.ns.split(",")})

    print(
        f"batch throughput: reelscribe run (in-process CLI call, after a warm-up run), server --workers {args.workers} "
        f"--fault-latency {args.latency:g} {'--vad' if args.vad else '--no-vad'}"
    )
    print(machine_line())
    videos = silent_videos(max(ns))
    rows = []
    with local_server(latency=args.latency, workers=args.workers, vad=args.vad) as server:
        print(f"warm-up (Prefect temporary server start, Whisper model load; excluded): {warm_up(server.base_url, server.api_key):.1f} s")
        print(f"{'N':>5}{'wall s':>9}{'ideal':>8}{'ratio':>9}{'engine/t':>9}{'+engine':>10}{'server':>9}{'head':>7}{'tail':>7}{'polls':>7}")
        for n in ns:
            spy = _py_spy(f"batch-{n}") if args.py_spy and n == max(ns) else None
            try:
                runs = [measure_n(server, videos, n, args.latency, args.workers) for _ in range(args.repeats)]
            finally:
                if spy:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(120)
                    summarise_profile(OUT / f"py-spy-batch-{n}.collapsed.txt", tasks=3 * n + 1)
            best = min(runs, key=lambda r: r["wall_s"])
            best["repeats"] = [r["wall_s"] for r in runs]
            rows.append(best)
            print_row(best)
        core = None if args.no_core else core_run(server.base_url, server.api_key, videos[: max(ns)], label="core")
    head = rows[-1]
    if core:
        head["core_wall_s"] = round(core.seconds, 3)
        head["core_tail_s"] = round(core.tail, 3)
        head["core_server_span_s"] = round(core.server_span, 3)
        print(
            f"diagnostic: the same {core.n} videos through reelscribe's core calls without Prefect (8 upload threads, 8 wait+land "
            f"threads): {core.seconds:.1f} s = {core.seconds / head['ideal_s']:.2f} x the ideal (server span {core.server_span:.1f} s, "
            f"tail {core.tail:.1f} s); Prefect's orchestration costs {head['wall_s'] - core.seconds:+.1f} s here"
        )
    print(
        f"CPU seconds during the N={head['n']} run ({head['wall_s']:.1f} s wall x {os.cpu_count()} cores = "
        f"{head['wall_s'] * (os.cpu_count() or 1):.0f} core-s): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in head["cpu_s"].items())
    )
    verdict = "met" if head["ratio"] <= GOAL else "missed"
    print(
        f"N={head['n']}: {head['wall_s']:.1f} s = {head['ratio']:.2f} x ceil(N/{args.workers})·L "
        f"(goal <= {GOAL}: {verdict}); {head.get('ratio_with_engine', float('nan')):.2f} x the bound including the engine"
    )
    # a profiled or --no-vad run is not the headline: keep it out of the table and the chart
    name = "bench_batch" + ("" if args.vad else "_no_vad") + ("_py_spy" if args.py_spy else "")
    save_result(name, {
        "vad": args.vad,
        "mode": "in-process reelscribe.cli.main(['run', ...]) after a warm-up run",
        "latency_s": args.latency,
        "workers": args.workers,
        "goal_ratio": GOAL,
        "runs": rows,
        "headline": head,
    })


PROFILE_BUCKETS = (
    ("task body: upload (hash, find task, POST)", ("upload_video (tasks",)),
    ("task body: wait (GET /tasks/{id}, sleep)", ("wait_for_indexing (tasks",)),
    ("task body: retrieve + land (GET video, Parquet)", ("land_transcription (tasks",)),
    ("Prefect task engine: run setup, states, events, inputs", ("run_task_sync",)),
    ("Prefect background threads: events, logs, API client", ("EventLoopThread", "WorkerThread", "QueueService", "_QueueServiceBase")),
    ("flow thread: flow run, submitting the maps, waiting", ("_run_module_as_main",)),
)


def summarise_profile(path: Path, tasks: int) -> None:
    """Busy thread-time per part of the run, from py-spy's collapsed stacks (100 samples per second)."""
    if not path.is_file():
        return
    totals: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        bucket = next((name for name, marks in PROFILE_BUCKETS if any(m in stack for m in marks)), "other")
        totals[bucket] = totals.get(bucket, 0) + int(count)
    busy = sum(totals.values())
    print(f"py-spy: {busy / 100:.1f} s of busy thread time in the flow's process ({path.name})")
    for name, samples in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {samples / 100:7.1f} s {100 * samples / busy:5.1f}%  {name}")
    prefect = sum(v for k, v in totals.items() if k.startswith("Prefect"))
    print(f"  Prefect, all told: {prefect / 100:.1f} s for {tasks} task runs = {prefect * 10 / tasks:.0f} ms per task run")


def _py_spy(label: str) -> subprocess.Popen | None:
    """py-spy sampling this process (all threads, native frames off) until terminated."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"py-spy-{label}.collapsed.txt"
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("py-spy not installed: pip install py-spy")
        return None
    process = subprocess.Popen(
        [str(spy), "record", "--pid", str(os.getpid()), "--rate", "100", "--format", "raw", "--output", str(target), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    print(f"py-spy recording to {target.relative_to(OUT.parent.parent)}")
    return process


if __name__ == "__main__":
    main()
