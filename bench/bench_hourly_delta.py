"""An hourly "nothing new" run of the incremental flow on a 10,000-video Delta lake on S3.

    python -m bench.bench_hourly_delta [--videos 10000]

The real flow (``transcribe-new-videos``), the real embedded server and moto's S3 server in its
own process: the first run lands ``samples/jfk.mp4`` into a Delta lake on S3; then ``--videos``
synthetic videos are committed into the same index (as 250-video batches) and the lake is
compacted, as the daily deployment would leave it; then the flow runs again over the same
folder, finds nothing new, and this prints the landed-read time that ``prepare-index`` logged
(goal: under 5 s) and the whole run's wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from bench.bench_lake_scale import DELTA_COMMIT, tables_of, video_id
from bench.common import ROOT, machine_line, save_result

READ_IN = re.compile(r"(\d+) videos already landed .* read in ([0-9.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=10_000, help="synthetic videos in the lake (default: 10000)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-hourly-"))
    # A Prefect home of its own: the ephemeral API must not meet a database another version migrated.
    os.environ["PREFECT_HOME"] = str(scratch / "prefect")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    from reelscribe.core.delta_lake import DeltaLake
    from reelscribe.core.lake_maintenance import compact_table
    from reelscribe.flows.incremental import transcribe_new_videos
    from reelscribe.server.launcher import EmbeddedServer
    from tests.flowruns import log_messages
    from tests.s3kit import MotoS3Process

    print(machine_line(), f"load {os.getloadavg()[0]:.1f}", flush=True)
    s3 = MotoS3Process().start()
    server = EmbeddedServer(scratch / "server", startup_timeout=120)
    try:
        os.environ.update(s3.env())
        server.start()
        os.environ.update(TWELVELABS_BASE_URL=server.base_url, TWELVE_LABS_API_KEY=server.api_key)
        inbox = scratch / "inbox"
        inbox.mkdir()
        shutil.copy(ROOT / "samples" / "jfk.mp4", inbox / "jfk.mp4")
        out = s3.new_bucket("hourly").url("lake")
        params = dict(source=str(inbox), index_name="hourly-bench", out=out, table_format="delta")
        first = transcribe_new_videos(**params)
        assert [r.status for r in first] == ["landed"], first
        lake = DeltaLake(out)
        (index_id,) = set(lake.open("videos").to_pyarrow_dataset().to_table()["index_id"].to_pylist())
        started = time.perf_counter()
        for first_n in range(0, args.videos, DELTA_COMMIT):
            lake.write_batch(index_id, {video_id(n): tables_of(n) for n in range(first_n, min(first_n + DELTA_COMMIT, args.videos))})
        for table in lake.tables():
            compact_table(lake, table)
        print(f"{args.videos:,} synthetic videos committed and compacted in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        state = transcribe_new_videos(**params, return_state=True)
        wall = time.perf_counter() - started
        assert state.result() == [], state
        (line,) = [m for m in log_messages(state.state_details.flow_run_id) if READ_IN.search(m)]
        landed, read_s = READ_IN.search(line).groups()
        print(f"nothing-new run: {landed} videos already landed, landed read {float(read_s):.2f} s "
              f"(goal < 5 s), whole flow run {wall:.1f} s", flush=True)
        print(f"  log line: {line}")
        save_result("bench_hourly_delta", {"videos": int(landed), "landed_read_s": float(read_s), "run_wall_s": wall})
    finally:
        server.stop()
        s3.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
