"""The lake as it grows: per-video Parquet against Delta Lake, local disk and S3 (moto, loopback).

    python -m bench.bench_lake_scale [--quick] [--sizes 10000,100000] [--s3-sizes 10000] [--keep]

For each lake (synthetic transcripts, ``SEGMENTS`` segments of ~105 characters per video, one
index) and each format, prints the four costs a growing lake pays, each the best of a few runs:

- **landed read**: ``open_lake(out, fmt).landed_hashes(index_id)``, the first read of every run;
- **phrase query**: DuckDB counting segments that contain a phrase, read the documented way
  (per-video: ``read_parquet`` over the glob, or through fsspec on S3; Delta: ``read_parquet``
  over ``file_uris()`` locally, the registered ``to_pyarrow_dataset()`` on S3);
- **refresh one**: landing again a video that is already in the lake (rows replaced);
- **batch of 100**: landing 100 new videos (per-video: 100 ``write_video``; Delta: one
  ``write_batch``).

Delta is measured as built (one commit per 250 videos, as a flow's batches would leave it, but
fewer) and again after ``compact_table`` (compaction, checkpoint). The per-video lake is built by
writing its files directly, in parallel (the same bytes ``Lake.write_video`` writes, without a
flow), so that 100,000 videos take minutes, not hours. Results go to
``bench/out/results/bench_lake_scale.json``; ``python -m bench.chart_lake`` draws the chart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import OUT, machine_line, save_result
from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake import Lake, table_path, video_tables
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_format import open_lake
from reelscribe.core.lake_maintenance import compact_table
from reelscribe.core.schema import SEGMENTS_SCHEMA

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
SEGMENTS = 60
PHRASE = "ask not what your country"
BUILD_CHUNK = 1000
# A flow commits every 50 videos; 250 keeps the 100,000-video build to 400 commits.
DELTA_COMMIT = 250
RETRIEVED = datetime(2026, 11, 1, tzinfo=timezone.utc)
_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no what can said who will more up out them "
    "time about into than only other new some could these two may first then do any like my now over such our man"
).split()


def video_id(n: int) -> str:
    """Ids shaped like the server's ObjectIds: 24 hex digits, increasing with time."""
    return f"66{n:022x}"


def sentences(count: int, seed: int) -> list[str]:
    """``count`` sentences of ~105 characters; one in 500 holds ``PHRASE``."""
    rng = np.random.default_rng(seed)
    words = np.array(_WORDS)
    out = []
    for i in range(count):
        text = " ".join(words[rng.integers(0, len(words), 22)])[:105]
        out.append(f"{text[:20]} {PHRASE} {text[47:]}" if i % 500 == 7 else text)
    return out


_POOL = sentences(4096, 1)


_HALF = 52


def segments_of(n: int, word_offset: int = 0) -> pa.Table:
    """Text from two pool sentences' halves: ~16 M distinct segments, so no dictionary squeezes
    the column to an unrealistic size (real transcripts hardly repeat)."""
    vid = video_id(n)
    size = len(_POOL)
    heads = [(n * 7919 + i * 31 + word_offset) % size for i in range(SEGMENTS)]
    tails = [(n * 104729 + i * 17 + 3 * word_offset) % size for i in range(SEGMENTS)]
    starts = np.arange(SEGMENTS, dtype=np.float64) * 3.0
    return pa.table(
        {
            "video_id": pa.array([vid] * SEGMENTS, pa.string()),
            "segment": pa.array(np.arange(SEGMENTS, dtype=np.int32)),
            "start": pa.array(starts),
            "end": pa.array(starts + 2.5),
            "value": pa.array([_POOL[h][:_HALF] + _POOL[t][_HALF:] for h, t in zip(heads, tails)], pa.string()),
            "task_id": pa.array([f"task-{vid}"] * SEGMENTS, pa.string()),
            "retrieved_at": pa.array([RETRIEVED] * SEGMENTS, pa.timestamp("us", tz="UTC")),
        },
        schema=SEGMENTS_SCHEMA,
    )


def record_of(n: int) -> VideoRecord:
    vid = video_id(n)
    return VideoRecord(
        task_id=f"task-{vid}", source=f"s3://videos/{vid}.mp4", content_sha256=f"{n:064x}",
        duration=180.0, indexed_at=RETRIEVED, retrieved_at=RETRIEVED,
    )


def tables_of(n: int, word_offset: int = 0) -> dict[str, pa.Table]:
    return video_tables(video_id(n), segments_of(n, word_offset), record_of(n))


# -- building ------------------------------------------------------------------------------------


def _write_per_video_chunk(out: str, first: int, last: int) -> None:
    """Files exactly as ``Lake.write_video`` lays them out, written straight (no temp + rename)."""
    lake = Lake(out)
    for n in range(first, last):
        for name, table in tables_of(n).items():
            path = table_path(lake.root, name, INDEX, video_id(n))
            if lake.is_local:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                pq.write_table(table, path)
            else:
                sink = pa.BufferOutputStream()
                pq.write_table(table, sink)
                lake.fs.pipe_file(path, sink.getvalue().to_pybytes())


def build_per_video(out: str, size: int, workers: int) -> None:
    chunks = [(n, min(n + BUILD_CHUNK, size)) for n in range(0, size, BUILD_CHUNK)]
    local = "://" not in out
    pool = ProcessPoolExecutor(workers) if local else ThreadPoolExecutor(workers * 4)
    with pool:
        for future in [pool.submit(_write_per_video_chunk, out, a, b) for a, b in chunks]:
            future.result()


def build_delta(out: str, size: int) -> None:
    lake = DeltaLake(out)
    for first in range(0, size, DELTA_COMMIT):
        lake.write_batch(INDEX, {video_id(n): tables_of(n) for n in range(first, min(first + DELTA_COMMIT, size))})


# -- measuring -----------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def phrase_query(out: str, fmt: str) -> Callable[[], int]:
    sql = f"select count(*) from {{}} where value ilike '%{PHRASE}%'"
    if fmt == "parquet":
        lake = Lake(out)
        if lake.is_local:
            source = f"read_parquet('{out}/segments/**/*.parquet', hive_partitioning = true)"
            return lambda: duckdb.sql(sql.format(source)).fetchall()[0][0]

        def through_fsspec() -> int:
            connection = duckdb.connect()
            connection.register_filesystem(lake.fs)
            source = f"read_parquet('s3://{lake.root}/segments/**/*.parquet', hive_partitioning = true)"
            return connection.sql(sql.format(source)).fetchall()[0][0]

        return through_fsspec

    lake = DeltaLake(out)
    if "://" not in out:

        def by_file_list() -> int:
            files = ", ".join(f"'{f}'" for f in lake.open("segments").file_uris())
            return duckdb.sql(sql.format(f"read_parquet([{files}], hive_partitioning = true)")).fetchall()[0][0]

        return by_file_list

    def by_dataset() -> int:
        segments = lake.open("segments").to_pyarrow_dataset()  # noqa: F841 - DuckDB finds it by name
        return duckdb.sql(sql.format("segments")).fetchall()[0][0]

    return by_dataset


def measure(out: str, fmt: str, size: int, repeats: int, *, next_id: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["landed_s"], landed = best_of(lambda: open_lake(out, fmt).landed_hashes(INDEX), repeats)
    assert len(landed) >= size, (len(landed), size)
    figures["query_s"], hits = best_of(phrase_query(out, fmt), repeats)
    figures["query_hits"] = hits
    lake = open_lake(out, fmt)
    middle = size // 2
    figures["refresh_one_s"], _ = best_of(
        lambda: lake.write_video(INDEX, video_id(middle), segments_of(middle, 1), record_of(middle)), repeats
    )
    batches = iter(range(next_id, next_id + 100 * repeats, 100))

    def land_batch() -> None:
        first = next(batches)
        if isinstance(lake, DeltaLake):
            lake.write_batch(INDEX, {video_id(n): tables_of(n) for n in range(first, first + 100)})
        else:
            for n in range(first, first + 100):
                lake.write_video(INDEX, video_id(n), segments_of(n), record_of(n))

    figures["batch_100_s"], _ = best_of(land_batch, repeats)
    return figures


def run_lake(where: str, size: int, repeats: int, workers: int, results: list[dict[str, Any]], *, s3: bool) -> None:
    label = f"{size:,} videos, {'S3 (moto)' if s3 else 'local disk'}"
    # The per-video lake's reads take minutes at 100,000 videos or on S3: once is enough there.
    slow_repeats = 1 if s3 or size >= 50_000 else repeats
    # per-video Parquet
    out = f"{where}/parquet-{size}"
    started = time.perf_counter()
    build_per_video(out, size, workers)
    print(f"[{label}] per-video lake built in {time.perf_counter() - started:.0f} s", flush=True)
    figures = measure(out, "parquet", size, slow_repeats, next_id=10_000_000)
    report(results, label, "parquet", size, s3, figures)
    # Delta, as built, then compacted
    out = f"{where}/delta-{size}"
    started = time.perf_counter()
    build_delta(out, size)
    print(f"[{label}] Delta lake built in {time.perf_counter() - started:.0f} s", flush=True)
    figures = measure(out, "delta", size, repeats, next_id=20_000_000)
    report(results, label, "delta", size, s3, figures)
    started = time.perf_counter()
    lake = DeltaLake(out)
    for table in lake.tables():
        compact_table(lake, table)
    print(f"[{label}] compacted in {time.perf_counter() - started:.0f} s", flush=True)
    figures = measure(out, "delta", size, repeats, next_id=30_000_000)
    report(results, label, "delta compacted", size, s3, figures)


def report(results: list[dict[str, Any]], label: str, fmt: str, size: int, s3: bool, figures: dict[str, float]) -> None:
    results.append({"lake": label, "format": fmt, "size": size, "s3": s3, **figures})
    print(
        f"[{label}] {fmt:>16}: landed read {figures['landed_s']:7.3f} s | phrase query {figures['query_s']:7.3f} s "
        f"({figures['query_hits']} hits) | refresh one {figures['refresh_one_s']:6.3f} s | batch of 100 {figures['batch_100_s']:6.3f} s",
        flush=True,
    )


def print_table(results: list[dict[str, Any]]) -> None:
    print("\n| lake | format | landed read | phrase query | refresh one | batch of 100 |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['lake']} | {r['format']} | {r['landed_s']:.3f} s | {r['query_s']:.3f} s | "
              f"{r['refresh_one_s']:.3f} s | {r['batch_100_s']:.3f} s |")
    print("\nratios, per-video Parquet ÷ Delta compacted (same lake, same run):")
    by = {(r["lake"], r["format"]): r for r in results}
    for lake in dict.fromkeys(r["lake"] for r in results):
        base, delta = by.get((lake, "parquet")), by.get((lake, "delta compacted"))
        if base and delta:
            ratios = ", ".join(
                f"{name} {base[key] / delta[key]:.1f}×"
                for name, key in (("landed", "landed_s"), ("query", "query_s"), ("refresh", "refresh_one_s"), ("batch", "batch_100_s"))
            )
            print(f"  {lake}: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="lakes of 1,000 and 5,000 local, 1,000 on S3")
    parser.add_argument("--sizes", default="10000,100000", help="local lake sizes (default: 10000,100000)")
    parser.add_argument("--s3-sizes", default="10000", help="lake sizes on moto's S3 server (default: 10000; '' for none)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per figure (default: 3)")
    parser.add_argument("--workers", type=int, default=2, help="processes building the per-video lake (default: 2)")
    parser.add_argument("--keep", action="store_true", help="keep the built lakes under bench/out/lakes")
    args = parser.parse_args()
    sizes = [1000, 5000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    s3_sizes = [1000] if args.quick else [int(s) for s in args.s3_sizes.split(",") if s]
    print(machine_line(), f"load {os.getloadavg()[0]:.1f}", flush=True)
    results: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="lakes-", dir=OUT if OUT.exists() else None))
    try:
        for size in sizes:
            run_lake(str(root), size, args.repeats, args.workers, results, s3=False)
            if not args.keep:
                for child in root.iterdir():
                    shutil.rmtree(child)
        if s3_sizes:
            run_s3(s3_sizes, args, results)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(results)
    save_result("bench_lake_scale", {"segments_per_video": SEGMENTS, "results": results, "load_after": os.getloadavg()[0]})


def run_s3(sizes: list[int], args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    """On moto's S3 server in a child process (delta-rs blocks the GIL on some requests)."""
    from tests.s3kit import MotoS3Process

    server = MotoS3Process().start()
    try:
        os.environ.update(server.env())
        bucket = server.new_bucket("bench")
        for size in sizes:
            run_lake(bucket.url(), size, args.repeats, args.workers, results, s3=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
