"""``reelscribe export OUT``: subtitle files (SRT, WebVTT, text, JSON) of the lake's videos."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from reelscribe.cli.lake_options import add_index_options
from reelscribe.core.subtitles import SUBTITLE_FORMATS


def add_export_command(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export", help="write subtitles (srt, vtt, txt, json) of landed videos, one file per video",
        description="Write one subtitle file per landed video, named after its source. Cues follow broadcast "
        "rules (README: Subtitles): at most 2 lines of 42 characters, 1-7 s, breaks at sentence ends and pauses.",
    )
    export.add_argument("out", metavar="OUT", help="lake root: local path or filesystem URI (either table format)")
    export.add_argument("--format", choices=SUBTITLE_FORMATS, default="vtt", help="file format (default: vtt)")
    export.add_argument("--to", metavar="DIR", help="folder or filesystem URI (s3://…) for the files (default: OUT/subtitles)")
    add_index_options(export)
    export.add_argument("--video", action="append", default=[], metavar="VIDEO_ID", help="only this video (repeatable)")
    export.add_argument("--source", action="append", default=[], metavar="SOURCE", help="only the video landed from this source (repeatable)")
    export.add_argument("--json", action="store_true", help="print one JSON object per file written (JSON lines)")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from reelscribe.cli.exits import EXIT_OK, usage_error
    from reelscribe.core.errors import ReelscribeError
    from reelscribe.core.export import export_lake
    from reelscribe.flows.export import default_target

    try:
        written = export_lake(
            args.out, args.to or default_target(args.out), args.format,
            index_id=args.index_id, index_name=args.index_name, videos=args.video, sources=args.source,
        )
    except ReelscribeError as exc:
        return usage_error(str(exc))
    if args.json:
        for f in written:
            print(json.dumps(asdict(f)))
    elif sys.stdout.isatty():
        _print_table(written)
    else:
        for f in written:
            print("\t".join((f.path, f.source, f.video_id, str(f.cues), f.built_from)))
    if not written:
        print(f"reelscribe: no videos to export in {args.out}", file=sys.stderr)
    return EXIT_OK


def _print_table(written: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"reelscribe export: {len(written)} file(s)")
    for column in ("file", "source", "video_id", "cues", "from"):
        table.add_column(column, overflow="fold")
    for f in written:
        table.add_row(f.path, f.source, f.video_id, str(f.cues), f.built_from)
    Console(file=sys.stdout).print(table)
