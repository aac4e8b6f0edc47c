"""Draw ``bench/batch_vs_n.png``: batch wall time against N, from the saved batch and SDK results.

    python -m bench.chart

reelscribe: measured at each N by ``bench.bench_batch``. The ideal bound ``ceil(N/8)·L`` and the
bound including the measured engine time per task. The SDK loop: its measured time per video
(``bench.bench_sdk``) times N — it handles one video at a time, so it is linear in N; the points
it was really measured at are marked.
"""

from __future__ import annotations

import math

from bench.common import ROOT, load_result

PNG = ROOT / "bench" / "batch_vs_n.png"


def draw() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch, sdk = load_result("bench_batch"), load_result("bench_sdk")
    if batch is None:
        raise SystemExit("no bench/out/results/bench_batch.json: run python -m bench.bench_batch first")
    runs = sorted(batch["runs"], key=lambda r: r["n"])
    latency, workers = batch["latency_s"], batch["workers"]
    ns = [r["n"] for r in runs]
    grid = list(range(1, max(ns) + 1))
    engine = next((r["engine_s_per_task"] for r in reversed(runs) if r.get("engine_s_per_task")), None)

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    if sdk:
        per_video = sdk["sdk_per_video_s"]
        ax.plot(grid, [per_video * n for n in grid], ":", color="tab:red", lw=2,
                label=f"official SDK loop ({per_video:.2f} s/video × N, extrapolated)")
        ax.plot([sdk["sdk_n"]], [sdk["sdk_measured_s"]], "o", color="tab:red", ms=7,
                label=f"official SDK loop, measured (N = {sdk['sdk_n']})")
    ax.plot(ns, [r["wall_s"] for r in runs], "o-", color="tab:blue", lw=2, ms=7, label="reelscribe run, measured")
    if engine:
        ax.plot(grid, [math.ceil(n / workers) * (latency + engine) for n in grid], "--", color="tab:gray", lw=1.2,
                label=f"bound incl. engine: ⌈N/{workers}⌉·(L + {engine:.2f} s)")
    ax.plot(grid, [math.ceil(n / workers) * latency for n in grid], "-", color="black", lw=1.2,
            label=f"ideal bound: ⌈N/{workers}⌉·L, L = {latency:g} s")
    for r in runs:
        ax.annotate(f"{r['wall_s']:.0f} s\n{r['ratio']:.2f}×", (r["n"], r["wall_s"]), textcoords="offset points",
                    xytext=(0, 10), ha="center", fontsize=8, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("videos in the batch (N), each 4.2 s, silent")
    ax.set_ylabel("wall time, seconds (log scale)")
    machine = batch["machine"]
    ax.set_title(f"Batch wall time vs N — server --workers {workers} --fault-latency {latency:g}\n"
                 f"{machine['nproc']} cores ({machine['cpu']}), {machine['ram_gib']} GiB RAM", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlim(0, max(ns) * 1.05)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(PNG)
    print(f"wrote {PNG.relative_to(ROOT)}")


if __name__ == "__main__":
    draw()
