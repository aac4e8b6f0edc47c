"""Polling efficiency: status requests per video and how late "ready" is noticed, from the server's side.

    python -m bench.bench_polling [--runs 2:48,15:24] [--sdk-sequential-n 6] [--workers 8]

Counted in the real server's own log, not in the client: every ``GET /tasks/{id}`` it answered,
per task. A waiter stops polling once it sees ``ready``, so a task's last status request is the
one that noticed; the delay is that request's time minus the moment the server marked the task
ready (its ``updated_at``). Same machine, same clock.

Three clients on the same server and videos: ``reelscribe run`` (the flow, 8 videos in flight);
the official SDK's ``wait_for_done`` (fixed 5 s ``sleep_interval``) in 8 threads doing
create → wait → retrieve, the same concurrency as the flow, so only the poll schedule differs;
and the SDK's documented sequential loop (one video at a time, at the first latency only).

``--runs L:N,...``: one server per ``--fault-latency L``, N videos each. L = 2 s is the batch
benchmark's setting (tasks ready ~2.5 s after they start: the SDK's best case, one wasted poll);
L = 15 s stands for longer indexing, where a fixed 5 s loop pays a request every 5 s. Goal, at
each latency: fewer requests per video than the SDK at no more mean delay.
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
    parser.add_argument("--runs", default=f"{FAULT_LATENCY:g}:48,15:24", help="latency:videos pairs, comma-separated")
    parser.add_argument("--sdk-sequential-n", type=int, default=6, help="videos for the sequential SDK loop (0: skip)")
    parser.add_argument("--workers", type=int, default=SERVER_WORKERS)
    args = parser.parse_args()
    runs = [(float(pair.split(":")[0]), int(pair.split(":")[1])) for pair in args.runs.split(",")]

    print(f"polling efficiency, counted in the server's log; server --workers {args.workers}")
    print(machine_line())
    videos = silent_videos(max(n for _, n in runs))
    results, verdicts = [], []
    for number, (latency, n) in enumerate(runs):
        with local_server(latency=latency, workers=args.workers) as server:
            print(f"--fault-latency {latency:g}: warm-up (excluded): {warm_up(server.base_url, server.api_key):.1f} s")
            print(f"{'client':<34}{'N':>4}{'req/video':>10}{'max':>6}{'delay s':>10}{'p90':>8}{'max':>8}")
            since = time.time()
            run = reelscribe_run(server.base_url, server.api_key, videos[:n], label="polling")
            ours = {"latency_s": latency, **polling_of(server, run.index_id, since, "reelscribe run (8 in flight)").figures()}
            print_polling(ours)
            since = time.time()
            _, index_id = sdk_batch(server.base_url, server.api_key, videos[:n], threads=8)
            sdk = {"latency_s": latency, **polling_of(server, index_id, since, "SDK wait_for_done, 8 threads").figures()}
            print_polling(sdk)
            results += [ours, sdk]
            if args.sdk_sequential_n and number == 0:
                since = time.time()
                _, index_id = sdk_batch(server.base_url, server.api_key, videos[: args.sdk_sequential_n])
                results.append({"latency_s": latency, **polling_of(server, index_id, since, "SDK documented loop (sequential)").figures()})
                print_polling(results[-1])
        met = ours["requests_per_video"] < sdk["requests_per_video"] and ours["delay_mean_s"] <= sdk["delay_mean_s"]
        verdicts.append(met)
        print(
            f"L={latency:g} s: reelscribe {ours['requests_per_video']:.2f} vs SDK {sdk['requests_per_video']:.2f} requests per video "
            f"({sdk['requests_per_video'] / ours['requests_per_video']:.2f}x fewer), mean delay {ours['delay_mean_s']:.2f} s vs "
            f"{sdk['delay_mean_s']:.2f} s; goal (fewer requests, no more delay): {'met' if met else 'missed'}",
            flush=True,
        )
    save_result("bench_polling", {"workers": args.workers, "clients": results, "goal_met": verdicts})


if __name__ == "__main__":
    main()
