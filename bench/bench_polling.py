"""Polling efficiency: status requests per video and how late "ready" is noticed, from the server's side.

    python -m bench.bench_polling [--n 48] [--sdk-sequential-n 6] [--latency 2] [--workers 8]

Counted in the real server's own log, not in the client: every ``GET /tasks/{id}`` it answered,
per task. A waiter stops polling once it sees ``ready``, so a task's last status request is the
one that noticed; the delay is that request's time minus the moment the server marked the task
ready (its ``updated_at``). Same machine, same clock.

Three clients on the same server and videos: ``reelscribe run`` (the flow, 8 videos in flight);
the official SDK's ``wait_for_done`` (fixed 5 s ``sleep_interval``) in 8 threads doing
create → wait → retrieve, the same concurrency as the flow, so only the poll schedule differs;
and the SDK's documented sequential loop (one video at a time). Goal: fewer requests per video
than the SDK at no more mean delay.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from bench.bench_sdk import sdk_batch
from bench.common import (
    FAULT_LATENCY,
    SERVER_WORKERS,
    local_server,
    machine_line,
    read_server_log,
    reelscribe_run,
    save_result,
    server_tasks,
    silent_videos,
    warm_up,
)


@dataclass(frozen=True)
class Polling:
    client: str
    n: int
    requests: list[int]
    delays: list[float]

    def figures(self) -> dict:
        delays = sorted(self.delays)
        return {
            "client": self.client,
            "n": self.n,
            "requests_per_video": round(statistics.mean(self.requests), 2),
            "requests_max": max(self.requests),
            "delay_mean_s": round(statistics.mean(delays), 3),
            "delay_p90_s": round(delays[int(0.9 * (len(delays) - 1))], 3),
            "delay_max_s": round(delays[-1], 3),
        }


def polling_of(server, index_id: str, since: float, client: str) -> Polling:
    log = read_server_log(server.log_path, since)
    tasks = server_tasks(server.base_url, server.api_key, index_id)
    requests, delays = [], []
    for task in tasks:
        polls = log.polls.get(task.id, [])
        if not polls:
            raise RuntimeError(f"{client}: no status request logged for task {task.id}")
        requests.append(len(polls))
        delays.append(max(0.0, max(polls) - task.finished))
    return Polling(client, len(tasks), requests, delays)


def print_polling(p: dict) -> None:
    print(
        f"{p['client']:<34}{p['n']:>4}{p['requests_per_video']:>10.2f}{p['requests_max']:>6}"
        f"{p['delay_mean_s']:>10.2f}{p['delay_p90_s']:>8.2f}{p['delay_max_s']:>8.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48, help="videos for the flow and the 8-thread SDK run")
    parser.add_argument("--sdk-sequential-n", type=int, default=6, help="videos for the sequential SDK loop (0: skip)")
    parser.add_argument("--latency", type=float, default=FAULT_LATENCY)
    parser.add_argument("--workers", type=int, default=SERVER_WORKERS)
    args = parser.parse_args()

    print(f"polling efficiency, counted in the server's log; server --workers {args.workers} --fault-latency {args.latency:g}")
    print(machine_line())
    videos = silent_videos(args.n)
    results = []
    with local_server(latency=args.latency, workers=args.workers) as server:
        print(f"warm-up (excluded): {warm_up(server.base_url, server.api_key):.1f} s")
        print(f"{'client':<34}{'N':>4}{'req/video':>10}{'max':>6}{'delay s':>10}{'p90':>8}{'max':>8}")
        since = time.time()
        run = reelscribe_run(server.base_url, server.api_key, videos, label="polling")
        results.append(polling_of(server, run.index_id, since, "reelscribe run (8 in flight)").figures())
        print_polling(results[-1])
        since = time.time()
        _, index_id = sdk_batch(server.base_url, server.api_key, videos, threads=8)
        results.append(polling_of(server, index_id, since, "SDK wait_for_done, 8 threads").figures())
        print_polling(results[-1])
        if args.sdk_sequential_n:
            since = time.time()
            _, index_id = sdk_batch(server.base_url, server.api_key, videos[: args.sdk_sequential_n])
            results.append(polling_of(server, index_id, since, "SDK documented loop (sequential)").figures())
            print_polling(results[-1])
    ours, sdk = results[0], results[1]
    fewer = ours["requests_per_video"] < sdk["requests_per_video"]
    sooner = ours["delay_mean_s"] <= sdk["delay_mean_s"]
    print(
        f"reelscribe: {ours['requests_per_video']:.2f} vs {sdk['requests_per_video']:.2f} requests per video "
        f"({sdk['requests_per_video'] / ours['requests_per_video']:.2f}x fewer), mean delay {ours['delay_mean_s']:.2f} s vs "
        f"{sdk['delay_mean_s']:.2f} s; goal (fewer requests, no more delay): {'met' if fewer and sooner else 'missed'}"
    )
    save_result("bench_polling", {"latency_s": args.latency, "workers": args.workers, "clients": results})


if __name__ == "__main__":
    main()
