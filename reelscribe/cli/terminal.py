"""What ``reelscribe run`` and ``demo`` print: one plain line per video (or JSON lines), written
and flushed as each video ends, so a failed source can be grepped whole and a pipe or a log file
sees each video when it happens; on a terminal, a progress bar below them."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from reelscribe.flows.report import ReportStatus

console = Console(stderr=True)


class Progress:
    """A bar ticked once per finished video (landed, skipped or failed); its total comes from the flow.

    ``tick`` is the run's progress sink (``RunContext.progress``). Until the flow has found its
    videos the bar says what the run is doing instead (``doing``: starting Prefect…).
    """

    def __init__(self, total: int | None = None, doing: str = "videos") -> None:
        self._bar = RichProgress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
            console=console, transient=False, disable=not console.is_terminal,
        )
        self._task = self._bar.add_task(doing, total=total, failed=0)
        self._failed = 0

    def tick(self, event: str, count: int) -> None:
        if event == "found":
            self._bar.update(self._task, total=count, description="videos")
            return
        if event == "failed":
            self._failed += 1
        self._bar.update(self._task, advance=count, failed=self._failed)

    def stopping(self) -> None:
        """Ctrl-C: what lands now still lands; the closing line says what did."""
        self._bar.update(self._task, description="stopping: what is landing lands (Ctrl-C again: at once)")

    def __enter__(self) -> "Progress":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


class ReportStream:
    """The run's report sink (``RunContext.reports``): each video's line printed and flushed as it
    ends. It keeps count, for the closing lines, and ``rest`` prints the reports it was not handed
    (videos the plan held back, the webhook mode's submissions) at the end."""

    def __init__(self, *, as_json: bool = False) -> None:
        self.as_json = as_json
        self.printed: list[Any] = []
        self.total: int | None = None
        self._sent_from = 0

    def __call__(self, report: Any) -> None:
        print(json.dumps(asdict(report)) if self.as_json else plain_line(report), flush=True)
        self.printed.append(report)

    def found(self, count: int) -> None:
        """The batch's size as the flow found it: the reports after this one are its videos."""
        self.total, self._sent_from = count, len(self.printed)

    def rest(self, reports: Sequence[Any]) -> None:
        seen = {(r.source, r.status) for r in self.printed}
        for r in reports:
            if (r.source, r.status) not in seen:
                self(r)

    def interrupted_line(self) -> str:
        """``interrupted: 3 landed, 7 not finished; run again to finish`` (failed ones named too)."""
        sent = self.printed[self._sent_from:] if self.total is not None else []
        landed = sum(r.status in (ReportStatus.LANDED, ReportStatus.SKIPPED) for r in sent)
        failed = sum(r.status == ReportStatus.FAILED for r in self.printed)
        if self.total is None:
            return "interrupted before any video was sent; run again to finish"
        counts = [f"{landed} landed", *([f"{failed} failed"] if failed else []), f"{max(0, self.total - len(sent))} not finished"]
        return f"interrupted: {', '.join(counts)}; run again to finish"


def print_reports(reports: Sequence[Any], *, as_json: bool = False) -> None:
    """A table on a terminal; otherwise one line per video that no width can wrap."""
    if as_json:
        for r in reports:
            print(json.dumps(asdict(r)))
    elif sys.stdout.isatty():
        _print_table(reports)
    else:
        for r in reports:
            print(plain_line(r))


def plain_line(r: Any) -> str:
    """``status<TAB>source<TAB>video_id<TAB>segments<TAB>seconds<TAB>error``, every field whole."""
    seconds = f"{r.seconds:.1f}" if r.seconds is not None else ""
    fields = (r.status, r.source, r.video_id or "", "" if r.segments is None else str(r.segments), seconds, r.error or "")
    return "\t".join(" ".join(str(f).split()) for f in fields)


def print_summary(reports: Sequence[Any]) -> None:
    """The one line a partly failed batch ends with (on stderr, after the per-video lines)."""
    failed = sum(r.status == ReportStatus.FAILED for r in reports)
    print(f"reelscribe: {failed} of {len(reports)} video(s) failed", file=sys.stderr)


def _print_table(reports: Sequence[Any]) -> None:
    table = Table(title="reelscribe run", show_lines=False)
    for column in ("source", "status", "video_id", "segments", "seconds", "error"):
        table.add_column(column, overflow="fold")
    for r in reports:
        style = {ReportStatus.FAILED: "red", ReportStatus.SKIPPED: "yellow"}.get(r.status, "green")
        seconds = f"{r.seconds:.1f}" if r.seconds is not None else ""
        table.add_row(r.source, f"[{style}]{r.status}", r.video_id or "", "" if r.segments is None else str(r.segments), seconds, r.error or "")
    Console(file=sys.stdout, width=max(120, console.width)).print(table)


def show_lake(out: str) -> None:
    """Where the Parquet landed and its first rows, read back the way a user would (DuckDB)."""
    import duckdb

    from reelscribe.core.lake import table_glob

    glob = table_glob(out, "segments")
    print(f"\nLanded under {out}/ (hive-partitioned by index_id):")
    print(f"  {glob}")
    duckdb.sql(
        "select index_id, video_id, segment, round(start, 2) as start, round(\"end\", 2) as \"end\", value "
        "from read_parquet($glob, hive_partitioning = true, union_by_name = true) order by video_id, segment limit 10",
        params={"glob": glob},
    ).show(max_width=160)
    words = table_glob(out, "words")
    if any(Path(out, "words").glob("index_id=*/*.parquet")):
        print(f"\n  {words}   (the assets path's word timings)")
        duckdb.sql(
            "select video_id, word, round(start, 2) as start, round(\"end\", 2) as \"end\", value, segment "
            "from read_parquet($glob, hive_partitioning = true, union_by_name = true) order by video_id, word limit 8",
            params={"glob": words},
        ).show(max_width=160)
