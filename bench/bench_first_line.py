"""Time to the first video's line in a pipe, against the whole run's time.

    python -m bench.bench_first_line [--videos 8 24] [--concurrency 4]

``reelscribe run`` runs as a subprocess with its stdout a pipe (as under cron or ``| tee``), against
the real local server (``--fault-latency`` seconds of indexing per video, 2 workers, so a batch takes
a while) and Prefect's temporary server, which the command starts as a user's would. Each line's
arrival is timed from the command's start: the first line, the last line, and the exit. A CLI that
printed every line at the end would show first line = last line = exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import local_server, machine_line, save_result, silent_videos

BIN = Path(sys.executable).parent / "reelscribe"


def timed_run(base_url: str, api_key: str, videos: list[Path], concurrency: int) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-first-line-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "TWELVE"))}
    env.update(TWELVELABS_BASE_URL=base_url, TWELVE_LABS_API_KEY=api_key, PREFECT_HOME=str(scratch / "prefect"))
    command = [str(BIN), "run", *map(str, videos), "--out", str(scratch / "lake"), "--index-name",
               f"first-line-{uuid.uuid4().hex[:8]}", "--concurrency", str(concurrency), "--upload", "tasks"]
    try:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   stdin=subprocess.DEVNULL)
        arrivals = [time.perf_counter() - started for _ in iter(process.stdout.readline, "")]
        process.wait()
        total = time.perf_counter() - started
        if process.returncode != 0 or len(arrivals) != len(videos):
            raise RuntimeError(f"exit {process.returncode}, {len(arrivals)} lines: {process.stderr.read()[-2000:]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"first_line_s": arrivals[0], "last_line_s": arrivals[-1], "exit_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, nargs="+", default=[8, 24])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=2.0, help="the server's indexing time per video, seconds")
    args = parser.parse_args()
    print(machine_line())
    rows = []
    with local_server(latency=args.latency, workers=2) as server:
        for n in args.videos:
            videos = silent_videos(n, prefix="firstline")
            figures = timed_run(server.base_url, server.api_key, videos, args.concurrency)
            rows.append({"videos": n, **figures})
            print(f"{n:>4} videos: first line {figures['first_line_s']:6.1f} s, last line {figures['last_line_s']:6.1f} s, "
                  f"exit {figures['exit_s']:6.1f} s (first line at {100 * figures['first_line_s'] / figures['exit_s']:.0f}% of the run)")
    save_result("first_line", {"concurrency": args.concurrency, "latency": args.latency, "rows": rows})


if __name__ == "__main__":
    main()
