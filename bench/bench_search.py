"""``reelscribe search`` against a hand-written DuckDB query, on the same lake in the same run.

    python -m bench.bench_search [--sizes 10000,100000] [--repeats 3] [--per-video 10000] [--keep] [--lakes DIR,…]

Lakes come from ``bench.bench_lake_scale``'s builders (60 synthetic segments of ~105 characters
per video, one in 500 holding the phrase; a Delta lake committed 250 videos at a time, then
compacted). For each lake, best of ``--repeats``:

- **reelscribe search**: ``open_reader(out)`` then ``search_lake(reader, PHRASE, limit=20)``, what
  ``reelscribe search OUT PHRASE`` runs: phrase-exact on words, every hit counted, the first 20
  with their source, time and marked segment text;
- **hand-written DuckDB**: the query a user would write for the same answer on the same lake,
  the Delta way (``read_parquet`` over the tables' current ``file_uris()``): segments joined to
  videos, ``value ilike '%<phrase>%'``, the hit count and the first 20 by source and time.

Results go to ``bench/out/results/bench_search.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from bench.bench_lake_scale import INDEX, PHRASE, best_of, build_delta, build_per_video
from bench.common import OUT, machine_line, save_result
from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake_maintenance import compact_table
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.search import search_lake

LIMIT = 20
HAND_WRITTEN = """
    select count(*) over () as hits, v.source, s.video_id, s.start, s.value
    from read_parquet($segments, hive_partitioning = true) s
    join read_parquet($videos, hive_partitioning = true) v using (index_id, video_id)
    where s.value ilike $pattern
    order by v.source, s.start
    limit $limit
"""


def reelscribe_search(out: str) -> tuple[int, int]:
    with open_reader(out) as reader:
        hits, total = search_lake(reader, PHRASE, limit=LIMIT)
    return total, len(hits)


def hand_written(out: str, per_video: bool) -> tuple[int, int]:
    if per_video:
        files = {name: f"{out}/{name}/**/*.parquet" for name in ("segments", "videos")}
    else:
        lake = DeltaLake(out)
        files = {name: [unquote(u) for u in lake.open(name).file_uris()] for name in ("segments", "videos")}
    rows = duckdb.execute(HAND_WRITTEN, {**files, "pattern": f"%{PHRASE}%", "limit": LIMIT}).fetchall()
    return (rows[0][0] if rows else 0), len(rows)


def measure(label: str, out: str, per_video: bool, repeats: int, results: list[dict[str, Any]]) -> None:
    ours_s, (ours_total, ours_shown) = best_of(lambda: reelscribe_search(out), repeats)
    base_s, (base_total, base_shown) = best_of(lambda: hand_written(out, per_video), repeats)
    assert ours_shown == base_shown == LIMIT, (ours_shown, base_shown)
    results.append({"lake": label, "search_s": ours_s, "hand_written_s": base_s, "hits": ours_total, "hand_written_hits": base_total})
    print(f"[{label}] reelscribe search {ours_s:.3f} s ({ours_total} hits) | hand-written DuckDB {base_s:.3f} s "
          f"({base_total} hits) | ratio {ours_s / base_s:.2f}×", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="Delta lake sizes, local disk (default: 10000,100000)")
    parser.add_argument("--per-video", default="10000", help="per-video Parquet lake sizes too ('' for none; default: 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default: 3)")
    parser.add_argument("--keep", action="store_true", help="keep the lakes under bench/out")
    parser.add_argument("--lakes", default="", help="also measure these compacted Delta lakes built before (--keep, or bench_lake_scale --keep), comma-separated")
    args = parser.parse_args()
    print(machine_line(), f"load {os.getloadavg()[0]:.1f}", flush=True)
    results: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="search-", dir=OUT if OUT.exists() else None))
    try:
        for size in [int(s) for s in args.per_video.split(",") if s]:
            out = str(root / f"parquet-{size}")
            started = time.perf_counter()
            build_per_video(out, size, 2)
            print(f"[{size:,} per-video] built in {time.perf_counter() - started:.0f} s", flush=True)
            measure(f"{size:,} videos, per-video Parquet", out, True, 1, results)
            shutil.rmtree(out) if not args.keep else None
        for size in [int(s) for s in args.sizes.split(",") if s]:
            out = str(root / f"delta-{size}")
            started = time.perf_counter()
            build_delta(out, size)
            lake = DeltaLake(out)
            for table in lake.tables():
                compact_table(lake, table)
            print(f"[{size:,} delta] built and compacted in {time.perf_counter() - started:.0f} s", flush=True)
            measure(f"{size:,} videos, Delta compacted", out, False, args.repeats, results)
            shutil.rmtree(out) if not args.keep else None
        for out in [p for p in args.lakes.split(",") if p]:
            size = len(DeltaLake(out).landed_hashes(INDEX))
            measure(f"{size:,} videos, Delta compacted (built before)", out, False, args.repeats, results)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n| lake | reelscribe search | hand-written DuckDB | ratio | hits |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['lake']} | {r['search_s']:.3f} s | {r['hand_written_s']:.3f} s | {r['search_s'] / r['hand_written_s']:.2f}× | {r['hits']} |")
    save_result("bench_search", {"index": INDEX, "phrase": PHRASE, "limit": LIMIT, "results": results, "load_after": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
