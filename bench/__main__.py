"""Run every benchmark, one child process each, then print one table and redraw the batch chart.

    python -m bench [--only batch,sdk,...] [--quick]

Each benchmark is also one command on its own (``python -m bench.bench_<name>``); this runs them in
turn with their defaults (``--quick``: smaller batches), shows their output as it comes, and reads
back what they saved under ``bench/out/results/`` (or, for the two that print only, their output).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, ROOT, load_result, machine_line


@dataclass(frozen=True)
class Bench:
    key: str
    module: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    saved_as: str | None = None
    """The name it saves its result under (``bench/out/results/<name>.json``); default: the module's."""

    @property
    def command(self) -> str:
        return f"python -m bench.{self.module}"

    @property
    def result_name(self) -> str:
        return self.saved_as or self.module


BENCHES = (
    Bench("batch", "bench_batch", quick=("--ns", "8,24")),
    Bench("sdk", "bench_sdk", quick=("--n", "24", "--sdk-n", "4")),
    Bench("polling", "bench_polling", quick=("--runs", "2:16", "--sdk-sequential-n", "0")),
    Bench("flatten", "bench_flatten", quick=("--videos", "50", "--repeats", "2")),
    Bench("upload", "bench_upload_memory", quick=("--size-mib", "256")),
    Bench("asr", "bench_asr", quick=("--minutes", "1", "--clips", "2", "--repeats", "1")),
    Bench("asr-unchanged", "bench_asr_unchanged", quick=("--repeats", "1")),
    Bench("languages", "bench_languages", quick=("--repeats", "1")),
    Bench("dask", "bench_dask", quick=("--n", "16", "--repeats", "1")),
    Bench("load", "bench_server_load", quick=("--crowd", "16", "--size-mb", "8"), saved_as="server_load"),
    Bench("lake", "bench_lake_scale", quick=("--quick",)),
    Bench("hourly-delta", "bench_hourly_delta", quick=("--videos", "1000")),
    Bench("lookup", "bench_lookup", quick=("--ns", "10,100", "--real", "0"), saved_as="lookup"),
    Bench("handoff", "bench_handoff", quick=("--seconds", "10"), saved_as="handoff"),
    Bench("search", "bench_search", quick=("--sizes", "10000", "--per-video", "")),
    Bench("events", "bench_events", quick=("--arrivals", "5"), saved_as="events"),
    Bench("incremental", "bench_incremental", quick=("--s3", "1000", "--local", "10000")),
)


def run(bench: Bench, quick: bool) -> str | None:
    """Run one benchmark, echo its output, return it (``None`` if the module is absent)."""
    if not (ROOT / "bench" / f"{bench.module}.py").is_file():
        print(f"== {bench.command}: not present, skipped", flush=True)
        return None
    argv = [sys.executable, "-m", f"bench.{bench.module}", *(bench.quick if quick else bench.args)]
    print(f"== {' '.join(argv[1:])}", flush=True)
    lines = []
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    if child.returncode:
        print(f"== {bench.command} exited with status {child.returncode}", flush=True)
    output = "".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{bench.module}.out.txt").write_text(output)
    return output


def saved_output(bench: Bench) -> str | None:
    path = RESULTS / f"{bench.module}.out.txt"
    return path.read_text() if path.is_file() else None


# -- one row per benchmark: (figure, baseline, ratio, goal, verdict) ------------------------------


def batch_row(r: dict, _: str | None) -> tuple[str, ...]:
    h = r["headline"]
    return (
        f"`reelscribe run`, N={h['n']}: **{h['wall_s']:.1f} s** (engine {h['engine_s_per_task']:.2f} s/task; "
        f"{h['ratio_with_engine']:.2f}× the bound incl. engine, {h['ideal_with_engine_s']:.1f} s)",
        f"ideal ⌈N/{r['workers']}⌉·L = {h['ideal_s']:g} s",
        f"{h['ratio']:.2f}×",
        f"≤ {r['goal_ratio']}×",
        _verdict(h["ratio"] <= r["goal_ratio"]),
    )


def sdk_row(r: dict, _: str | None) -> tuple[str, ...]:
    how = "measured" if r["sdk_at_n_measured"] else f"extrapolated from {r['sdk_n']} measured"
    return (
        f"`reelscribe run`, N={r['n']}: **{r['reelscribe_at_n_s']:.1f} s** (N={r['sdk_n']}: {r['reelscribe_at_sdk_n_s']:.1f} s)",
        f"SDK loop N={r['n']}: {r['sdk_at_n_s']:.0f} s ({how}; N={r['sdk_n']}: {r['sdk_measured_s']:.1f} s, "
        f"{r['ratio_at_sdk_n']:.1f}×)",
        f"{r['ratio']:.1f}×",
        f"≥ {r['goal_ratio']:g}×",
        _verdict(r["ratio"] >= r["goal_ratio"]),
    )


def polling_row(r: dict, _: str | None) -> tuple[str, ...]:
    pairs = []
    clients = [{"latency_s": r.get("latency_s"), **c} for c in r["clients"]]
    for latency in dict.fromkeys(c["latency_s"] for c in clients):
        ours = next(c for c in clients if c["latency_s"] == latency and c["client"].startswith("reelscribe"))
        sdk = next(c for c in clients if c["latency_s"] == latency and "8 threads" in c["client"])
        pairs.append((latency, ours, sdk))
    return (
        "<br>".join(
            f"L={lat:g} s, N={o['n']}: **{o['requests_per_video']:.2f} req/video**, mean delay **{o['delay_mean_s']:.2f} s**"
            for lat, o, _ in pairs
        ),
        "<br>".join(
            f"SDK `wait_for_done` (8 threads): {b['requests_per_video']:.2f} req/video, {b['delay_mean_s']:.2f} s" for _, _, b in pairs
        ),
        "<br>".join(f"{b['requests_per_video'] / o['requests_per_video']:.2f}× fewer requests" for _, o, b in pairs),
        "fewer requests, ≤ delay",
        "<br>".join(
            _verdict(o["requests_per_video"] < b["requests_per_video"] and o["delay_mean_s"] <= b["delay_mean_s"])
            for _, o, b in pairs
        ),
    )


def flatten_row(_: dict, output: str | None) -> tuple[str, ...] | None:
    rows = dict(re.findall(r"^(reelscribe \(defaults\)|pandas baseline)\s+(.*)$", output or "", re.M))
    ours, base = rows["reelscribe (defaults)"].split(), rows["pandas baseline"].split()
    ratio = float(base[0]) / float(ours[0])
    return (
        f"flatten + write: **{float(ours[2]):.2f} M segments/s** (best {ours[0]} s)",
        f"`pd.json_normalize` + `to_parquet`: {float(base[2]):.2f} M seg/s ({base[0]} s)",
        f"{ratio:.2f}×",
        "≥ 5× and ≥ 0.5 M seg/s",
        _verdict(ratio >= 5 and float(ours[2]) >= 0.5),
    )


def upload_row(r: dict, _: str | None) -> tuple[str, ...]:
    c = r["children"]
    return (
        f"peak RSS uploading {r['size_mib']} MiB: **{c['reelscribe']['peak_rss_mb']:.0f} MB** "
        f"(imports alone: {c['none']['peak_rss_mb']:.0f} MB)",
        f"`requests.post(files=...)`: {c['requests']['peak_rss_mb']:.0f} MB",
        f"{r['ratio']:.1f}× less",
        f"< {r['goal_mb']:g} MB",
        _verdict(c["reelscribe"]["peak_rss_mb"] < r["goal_mb"]),
    )


def asr_row(r: dict, _: str | None) -> tuple[str, ...]:
    return (
        f"server indexing a {r['long_clip_s']:.0f} s clip: **{statistics.median(r['server_long_s']):.1f} s**; "
        f"{r['short_clips_s']:.0f} s in {r['short_clips']} clips at once: "
        f"{statistics.median(r['server_shorts_s']):.1f} s (JFK word for word: {r['jfk_word_for_word']}, "
        f"median segment {r['median_segment_s']} s, WER {r['wer_server']:.3f} vs {r['wer_before']:.3f} before)",
        f"plain `WhisperModel.transcribe`: {statistics.median(r['plain_long_s']):.1f} s; "
        f"one after another: {statistics.median(r['plain_shorts_s']):.1f} s",
        f"{r['long_ratio']:.2f}× / {r['shorts_ratio']:.2f}× (median of interleaved rounds)",
        f"≥ {r['goal']}× both",
        _verdict(min(r["long_ratio"], r["shorts_ratio"]) >= r["goal"]),
    )


def dask_row(r: dict, _: str | None) -> tuple[str, ...]:
    return (
        f"N={r['n']} on Dask, 2 workers × {r['threads_per_worker']} threads: **{r['dask']['wall_s']:.1f} s** "
        f"({r['dask']['videos_per_s']:.2f} videos/s)",
        f"thread pool of 8: {r['threads']['wall_s']:.1f} s",
        f"{r['dask_over_threads']:.2f}×",
        "recorded (no goal)",
        "—",
    )


def lookup_row(r: dict, _: str | None) -> tuple[str, ...]:
    n = max(int(key.split("-")[0]) for key in r["fake"])
    old, new = r["fake"][f"{n}-old"], r["fake"][f"{n}-new"]
    return (
        f"exactly-once lookup, {n:,} videos all named `video.mp4`: **{new['mean']:g} list requests per upload** "
        f"(last: {new['last']})",
        f"lookup by the plain name: {old['mean']:g} per upload (last: {old['last']})",
        f"{old['total'] / new['total']:.1f}× fewer in all",
        "the same at the last video as at the first",
        _verdict(new["last"] == new["first"]),
    )


def handoff_row(r: dict, _: str | None) -> tuple[str, ...]:
    size = r["object_bytes"]
    return (
        f"one new s3:// video, `--hand-off url`: worker reads **{r['url']['worker_bytes'] / size:.2f}×** the object",
        f"streamed: {r['stream']['worker_bytes'] / size:.2f}×",
        f"{r['worker_bytes_ratio_stream_to_url']:.2f}×",
        "one read (the hash)",
        _verdict(r["url"]["worker_bytes"] <= size),
    )


def incremental_row(r: dict, _: str | None) -> tuple[str, ...]:
    largest = max(r["s3"], key=int)
    s3 = r["s3"][largest]["nothing new"]
    reads = [v["read_s"] for local in r["local"].values() for v in local["state_read"].values()]
    cli = r.get("cli", {})
    run = f"; `reelscribe run` nothing new {cli['run_s']:.2f} s = {cli['ratio']:.1f}× `--help`" if cli else ""
    return (
        f"nothing new, {int(largest):,} objects on moto: **{s3['state_s']:.2f} s, {s3['state_bytes']:,} B read**; "
        f"state read at 100,000: {max(reads):.2f} s{run}",
        f"hash every object: {s3['before_s']:.1f} s, {s3['before_bytes']:,} B",
        f"{s3['ratio']:.0f}×",
        "0 B; selection ≤ 5 s; state read ≤ 0.5 s; run ≤ 1.5 s or ≤ 5× `--help`",
        _verdict(s3["state_bytes"] == 0 and s3["state_s"] <= 5 and max(reads) <= 0.5
                 and (not cli or cli["run_s"] <= 1.5 or cli["ratio"] <= 5)),
    )


def asr_unchanged_row(r: dict, _: str | None) -> tuple[str, ...]:
    today, before = (statistics.median(r["times"][k]) for k in ("today", "before"))
    return (
        f"today's `tiny.en` decoding of the 294 s clip: **{today:.1f} s**, same segments: {r['same_segments']}",
        f"`server/asr.py` at `{r['rev']}` (before languages): {before:.1f} s",
        f"{r['ratio']:.3f}×", "≤ 1.05×, same segments", _verdict(r["ratio"] <= 1.05 and r["same_segments"]),
    )


def languages_row(r: dict, _: str | None) -> tuple[str, ...]:
    speed, rss = r["speed"], r["peak_rss_mib"]
    tiny, auto, fixed = (max(speed[k]) for k in ("tiny.en", "base auto", "base en"))
    return (
        f"`base`: {fixed:.1f}× real time with `--language en`, {auto:.1f}× with `auto`; peak RSS {rss['base en']:.0f} / {rss['base auto']:.0f} MiB",
        f"`tiny.en`: {tiny:.1f}× real time, {rss['tiny.en']:.0f} MiB",
        f"{tiny / fixed:.2f}× / {tiny / auto:.2f}× the time", "recorded (word error rates: BENCHMARKS.md section 12)", "—",
    )


ROWS = {"dask": dask_row, "batch": batch_row, "sdk": sdk_row, "polling": polling_row, "flatten": flatten_row, "upload": upload_row, "asr": asr_row,
        "asr-unchanged": asr_unchanged_row, "languages": languages_row, "lookup": lookup_row, "handoff": handoff_row,
        "incremental": incremental_row}
TITLES = {
    "batch": "1. Batch throughput",
    "sdk": "2. Against the official SDK",
    "polling": "3. Polling efficiency",
    "flatten": "4. Flatten + write",
    "upload": "5. Upload memory",
    "asr": "6. Embedded ASR",
    "dask": "7. Dask runner vs thread pool",
    "load": "Load on the embedded server",
    "asr-unchanged": "12. tiny.en unchanged",
    "lake": "8. The lake at scale",
    "hourly-delta": "8. Hourly run on a Delta lake",
    "lookup": "9. Exactly-once lookup",
    "handoff": "9. URL hand-off",
    "search": "10. Phrase search",
    "events": "11. Event-driven arrivals",
    "languages": "12. Languages",
    "incremental": "13. Incremental runs",
}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(outputs: dict[str, str | None]) -> str:
    lines = [
        "| benchmark | reelscribe | baseline (same run) | ratio | goal | verdict | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for bench in BENCHES:
        result = load_result(bench.result_name)
        output = outputs.get(bench.key) or saved_output(bench)
        if bench.key not in ROWS:
            lines.append(f"| {TITLES[bench.key]} | see its section of BENCHMARKS.md | | | | | `{bench.command}` |")
            continue
        try:
            row = ROWS[bench.key](result or {}, output)
        except (KeyError, StopIteration, TypeError, ValueError, ZeroDivisionError):
            row = None  # nothing saved yet, or saved by an older version
        if row is None:
            lines.append(f"| {TITLES[bench.key]} | (no result) | | | | | `{bench.command}` |")
        else:
            lines.append(f"| {TITLES[bench.key]} | " + " | ".join(row) + f" | `{bench.command}` |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(b.key for b in BENCHES))
    parser.add_argument("--quick", action="store_true", help="smaller batches, for a smoke run (its results replace the saved ones)")
    parser.add_argument("--table-only", action="store_true", help="print the table from saved results; run nothing")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else {b.key for b in BENCHES}
    print(machine_line(), flush=True)
    outputs: dict[str, str | None] = {}
    if not args.table_only:
        for bench in BENCHES:
            if bench.key in chosen:
                outputs[bench.key] = run(bench, args.quick)
    if load_result("bench_batch"):
        from bench.chart import draw

        draw()
    print()
    print(table(outputs))


if __name__ == "__main__":
    main()
