"""reelscribe against the official SDK driven the way its docs show, on the same server and videos.

    python -m bench.bench_sdk [--n 100] [--sdk-n 12] [--latency 2] [--workers 8]

The SDK side (``twelvelabs`` 1.3.6) does, for each video in turn: ``tasks.create``,
``tasks.wait_for_done`` (default ``sleep_interval`` 5 s), ``indexes.videos.retrieve(...,
transcription=True)``, append the segments to a DataFrame; Parquet is written once at the end.
That loop is sequential, N·(L + up to 5 s), so by default it runs on ``--sdk-n`` videos and its
time for N is extrapolated from the measured time per video (it is linear by construction: one
video at a time; pass ``--sdk-n 100`` to measure it outright, about 9 minutes). reelscribe is
measured at N and at ``--sdk-n`` (for a like-for-like measured ratio as well). Goal: SDK time /
reelscribe time ≥ 10 at N = 100.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from bench.common import (
    FAULT_LATENCY,
    SERVER_WORKERS,
    ideal_seconds,
    local_server,
    machine_line,
    reelscribe_run,
    save_result,
    silent_videos,
    warm_up,
)

GOAL = 10.0


def sdk_batch(base_url: str, api_key: str, videos: Sequence[Path], *, threads: int = 1) -> tuple[float, str]:
    """The docs' loop over ``videos`` (``threads`` > 1 splits them over that many such loops).

    Returns the wall time and the index id.
    """
    import pandas as pd
    from twelvelabs import TwelveLabs
    from twelvelabs.indexes import IndexesCreateRequestModelsItem

    client = TwelveLabs(api_key=api_key, base_url=base_url)
    index = client.indexes.create(
        index_name=f"sdk-{uuid.uuid4().hex[:8]}",
        models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])],
    )

    def one(path: Path) -> list[dict]:
        with open(path, "rb") as handle:
            task = client.tasks.create(index_id=index.id, video_file=handle)
        task = client.tasks.wait_for_done(task.id)
        if task.status != "ready":
            raise RuntimeError(f"{path.name}: task {task.id} ended {task.status}")
        video = client.indexes.videos.retrieve(index.id, task.video_id, transcription=True)
        return [
            {"video_id": task.video_id, "start": s.start, "end": s.end, "value": s.value}
            for s in video.transcription or []
        ]

    began = time.perf_counter()
    frame = pd.DataFrame(columns=["video_id", "start", "end", "value"])
    if threads == 1:
        for path in videos:
            frame = pd.concat([frame, pd.DataFrame(one(path), columns=frame.columns)], ignore_index=True)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for rows in pool.map(one, videos):
                frame = pd.concat([frame, pd.DataFrame(rows, columns=frame.columns)], ignore_index=True)
    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as scratch:
        frame.to_parquet(Path(scratch) / "transcripts.parquet", index=False)
    return time.perf_counter() - began, index.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="batch size for the headline ratio")
    parser.add_argument("--sdk-n", type=int, default=12, help="videos the sequential SDK loop really runs on")
    parser.add_argument("--latency", type=float, default=FAULT_LATENCY)
    parser.add_argument("--workers", type=int, default=SERVER_WORKERS)
    args = parser.parse_args()
    sdk_n = min(args.sdk_n, args.n)

    print(f"reelscribe vs the official SDK's documented loop; server --workers {args.workers} --fault-latency {args.latency:g}")
    print(machine_line())
    videos = silent_videos(args.n)
    with local_server(latency=args.latency, workers=args.workers) as server:
        print(f"warm-up (excluded): {warm_up(server.base_url, server.api_key):.1f} s")
        sdk_seconds, _ = sdk_batch(server.base_url, server.api_key, videos[:sdk_n])
        per_video = sdk_seconds / sdk_n
        print(f"SDK loop, {sdk_n} videos, measured: {sdk_seconds:.1f} s ({per_video:.2f} s per video)", flush=True)
        small = reelscribe_run(server.base_url, server.api_key, videos[:sdk_n], label=f"sdk-cmp-{sdk_n}")
        print(f"reelscribe run, {sdk_n} videos, measured: {small.seconds:.1f} s", flush=True)
        big = small if sdk_n == args.n else reelscribe_run(server.base_url, server.api_key, videos, label=f"sdk-cmp-{args.n}")
        print(f"reelscribe run, {args.n} videos, measured: {big.seconds:.1f} s", flush=True)

    sdk_at_n = per_video * args.n
    measured = "measured" if sdk_n == args.n else f"extrapolated from {sdk_n} measured videos"
    ratio = sdk_at_n / big.seconds
    print(f"SDK loop, {args.n} videos, {measured}: {sdk_at_n:.1f} s")
    print(f"N={sdk_n} (both measured): SDK / reelscribe = {sdk_seconds / small.seconds:.1f}x")
    print(f"N={args.n}: SDK / reelscribe = {ratio:.1f}x (goal >= {GOAL:g}: {'met' if ratio >= GOAL else 'missed'})")
    save_result("bench_sdk", {
        "latency_s": args.latency,
        "workers": args.workers,
        "n": args.n,
        "sdk_n": sdk_n,
        "sdk_measured_s": round(sdk_seconds, 3),
        "sdk_per_video_s": round(per_video, 3),
        "sdk_at_n_s": round(sdk_at_n, 3),
        "sdk_at_n_measured": sdk_n == args.n,
        "reelscribe_at_sdk_n_s": round(small.seconds, 3),
        "reelscribe_at_n_s": round(big.seconds, 3),
        "ideal_at_n_s": ideal_seconds(args.n, args.latency, args.workers),
        "ratio_at_sdk_n": round(sdk_seconds / small.seconds, 2),
        "ratio": round(ratio, 2),
        "goal_ratio": GOAL,
    })


if __name__ == "__main__":
    main()
