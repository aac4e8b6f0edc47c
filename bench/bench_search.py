"""``reelscribe search`` against a hand-written DuckDB query, on the same lake in the same run.

    python -m bench.bench_search [--sizes 10000,100000] [--repeats 5]

The lakes (``bench.search_lakes``): compacted Delta lakes on local disk of 60 synthetic segments
of ~105 characters per video, one in 500 holding the phrase, the rows ``bench_lake_scale``
lands, with the term index compaction writes; built in bulk once and kept under
``bench/out/lakes/`` for the next run. For each lake,
best of ``--repeats`` (after one untimed warm-up of each, so both read a warm page cache):

- **reelscribe search**: ``open_reader(out)`` then ``search_lake(reader, PHRASE, limit=20)``, what
  ``reelscribe search OUT PHRASE`` runs: phrase-exact on consecutive words, every hit counted, the
  first 20 with their source, time and marked segment text (the term index finds and counts
  them; only the 20 shown are read from the segments);
- **hand-written DuckDB**: the query a user would write for the same answer on the same lake,
  the Delta way (``read_parquet`` over the tables' current ``file_uris()``): segments joined to
  videos, ``value ilike '%<phrase>%'``, the hit count and the first 20 by source and time.

Prints the machine and its load before and after, one line per lake and a Markdown table (the
figures BENCHMARKS.md section 10 records); saves ``bench/out/results/bench_search.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from bench.bench_lake_scale import INDEX, PHRASE
from bench.common import machine_line, save_result
from bench.search_lakes import indexed_lake
from reelscribe.core.term_index import TERMS_TABLE
from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.search import search_lake

LIMIT = 20
GOAL_S = 1.0
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


def hand_written(out: str) -> tuple[int, int]:
    lake = DeltaLake(out)
    files = {name: [unquote(u.removeprefix("file://")) for u in lake.open(name).file_uris()] for name in ("segments", "videos")}
    rows = duckdb.execute(HAND_WRITTEN, {**files, "pattern": f"%{PHRASE}%", "limit": LIMIT}).fetchall()
    return (rows[0][0] if rows else 0), len(rows)


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """The least wall time and the least CPU time (this process, DuckDB's threads included) of ``repeats`` runs.

    CPU time barely moves with the machine's load, so it says what a quiet machine's wall time would
    be: about CPU ÷ 2 for the parallel scan on 2 cores, plus the Python part."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def measure(size: int, repeats: int) -> dict[str, Any]:
    out, built_s, indexed_s = indexed_lake(size)
    print(f"[{size:,} videos] lake {out} " + (f"built in {built_s:.0f} s" if built_s is not None else "reused")
          + (f", term index written in {indexed_s:.0f} s" if indexed_s is not None else ", term index reused"), flush=True)
    reelscribe_search(out), hand_written(out)  # warm-up: both read a warm page cache
    ours_s, ours_cpu, (ours_total, ours_shown) = best_of(lambda: reelscribe_search(out), repeats)
    base_s, base_cpu, (base_total, base_shown) = best_of(lambda: hand_written(out), repeats)
    assert ours_shown == base_shown == LIMIT, (ours_shown, base_shown)
    # Every hit the substring query finds is a phrase-exact hit here (the phrase sits mid-segment).
    assert ours_total == base_total, (ours_total, base_total)
    files = len(DeltaLake(out).open("segments").file_uris())
    index_mb = sum(p.stat().st_size for p in Path(out, TERMS_TABLE).rglob("*.parquet")) / 1e6
    lake_mb = sum(p.stat().st_size for p in Path(out, "segments").rglob("*.parquet")) / 1e6
    result = {"videos": size, "segment_files": files, "search_s": ours_s, "hand_written_s": base_s,
              "search_cpu_s": ours_cpu, "hand_written_cpu_s": base_cpu, "hits": ours_total, "built_s": built_s,
              "indexed_s": indexed_s, "index_mb": index_mb, "segments_mb": lake_mb}
    print(f"[{size:,} videos] reelscribe search {ours_s:.3f} s ({ours_cpu:.2f} CPU-s) | hand-written DuckDB {base_s:.3f} s "
          f"({base_cpu:.2f} CPU-s) | ratio {ours_s / base_s:.2f}× | {ours_total:,} hits | "
          f"goal ≤ {GOAL_S:.0f} s: {'met' if ours_s <= GOAL_S else 'missed'} | term index {index_mb:.0f} MB "
          f"(segments {lake_mb:.0f} MB)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="lake sizes in videos (default: 10000,100000)")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs (default: 5)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    print(machine_line(), flush=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = [measure(int(s), args.repeats) for s in args.sizes.split(",") if s]
    load_after = os.getloadavg()[0]
    print(f"\n{started}, 1-minute load {load_before:.1f} before, {load_after:.1f} after; phrase {PHRASE!r}, "
          f"best of {args.repeats}, Delta compacted, local disk")
    print("| lake | reelscribe search | hand-written DuckDB (same run) | ratio | CPU-s, search / hand-written | hits |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['videos']:,} videos ({r['segment_files']} segment files) | **{r['search_s']:.3f} s** | "
              f"{r['hand_written_s']:.3f} s | {r['search_s'] / r['hand_written_s']:.2f}× | "
              f"{r['search_cpu_s']:.2f} / {r['hand_written_cpu_s']:.2f} | {r['hits']:,} |")
    save_result("bench_search", {"index": INDEX, "phrase": PHRASE, "limit": LIMIT, "repeats": args.repeats,
                                 "results": results, "load_before": load_before, "load_after": load_after})


if __name__ == "__main__":
    main()
