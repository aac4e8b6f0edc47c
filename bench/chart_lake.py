"""Draw ``bench/lake_scale.png``: each cost of ``bench.bench_lake_scale`` against lake size, per format.

    python -m bench.chart_lake

Four panels (landed read, phrase query, refresh one video, land a batch of 100); lines for the
lakes on local disk, hollow markers for the lakes on moto's S3 server; log scales.
"""

from __future__ import annotations

from bench.common import ROOT, load_result

PNG = ROOT / "bench" / "lake_scale.png"
PANELS = (
    ("landed_s", "landed read (every run's first read)"),
    ("query_s", "DuckDB phrase query over all segments"),
    ("refresh_one_s", "refresh one video"),
    ("batch_100_s", "land a batch of 100 videos"),
)
STYLE = {"parquet": "tab:red", "delta": "tab:blue", "delta compacted": "tab:green"}
GOALS = {"landed_s": 0.5, "query_s": 1.0, "refresh_one_s": 0.5, "batch_100_s": 1.0}


def draw() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = load_result("bench_lake_scale")
    if saved is None:
        raise SystemExit("no bench/out/results/bench_lake_scale.json: run python -m bench.bench_lake_scale first")
    results = saved["results"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=110)
    for ax, (key, title) in zip(axes.flat, PANELS):
        for fmt, color in STYLE.items():
            local = sorted((r["size"], r[key]) for r in results if r["format"] == fmt and not r["s3"])
            remote = sorted((r["size"], r[key]) for r in results if r["format"] == fmt and r["s3"])
            if local:
                ax.plot(*zip(*local), "o-", color=color, label=f"{fmt}, local disk")
            if remote:
                ax.plot(*zip(*remote), "s", color=color, mfc="none", ms=9, label=f"{fmt}, S3 (moto)")
        ax.axhline(GOALS[key], color="gray", ls=":", lw=1, label=f"goal for delta compacted ({GOALS[key]:g} s)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("videos in the lake (60 segments each)")
        ax.set_ylabel("seconds (log)")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    machine = saved["machine"]
    fig.suptitle(f"Lake cost against size: per-video Parquet vs Delta Lake — {machine['nproc']} shared cores, "
                 f"{saved['when'][:10]}", fontsize=11)
    fig.tight_layout()
    fig.savefig(PNG)
    print(f"wrote {PNG.relative_to(ROOT)}")


if __name__ == "__main__":
    draw()
