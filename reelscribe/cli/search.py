"""``reelscribe search OUT "phrase"``: where in the lake's videos a phrase was said."""

from __future__ import annotations

import argparse
import json
import sys

from reelscribe.cli.lake_options import add_index_options

DEFAULT_LIMIT = 20


def add_search_command(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser(
        "search", help="find a phrase in the lake: video, second, text and a link that opens the video there",
        description="Phrase-exact search (consecutive words, any case, punctuation ignored) on the words the lake "
        "has, else on segment text; a phrase spanning two segments is found. Exit status, as grep's: 0 when "
        "something was found, 1 when nothing was, 2 on an error.",
    )
    search.add_argument("out", metavar="OUT", help="lake root: local path or filesystem URI (either table format)")
    search.add_argument("phrase", metavar="PHRASE", help="the words to find, in order")
    add_index_options(search)
    search.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"show at most this many hits (default: {DEFAULT_LIMIT})")
    search.add_argument("--json", action="store_true", help="print one JSON object per hit (JSON lines)")
    search.set_defaults(handler=run_search)


def run_search(args: argparse.Namespace) -> int:
    from reelscribe.cli.exits import EXIT_FAILED, EXIT_OK, usage_error
    from reelscribe.core.errors import ReelscribeError
    from reelscribe.core.lake_sql import open_reader
    from reelscribe.core.search import phrase_words, search_lake

    if args.limit < 1:
        return usage_error("--limit must be at least 1")
    try:
        phrase_words(args.phrase)
        with open_reader(args.out) as reader:
            reader.only_index(index_id=args.index_id, index_name=args.index_name)
            hits, total = search_lake(reader, args.phrase, limit=args.limit)
    except ReelscribeError as exc:
        return usage_error(str(exc))
    if args.json:
        for h in hits:
            print(json.dumps({
                "index_id": h.index_id, "video_id": h.video_id, "source": h.source, "start": round(h.start, 3),
                "end": round(h.end, 3), "at": h.at, "text": h.text, "marked": h.marked, "link": h.link,
                **({"sentence": h.sentence} if h.sentence is not None else {}),
            }, ensure_ascii=False))
    elif sys.stdout.isatty():
        _print_table(hits, total, args.phrase)
    else:
        for h in hits:
            print("\t".join(" ".join(f.split()) for f in (h.source, h.video_id, h.at, h.marked, h.link)))
    if total > len(hits):
        print(f"reelscribe: {total} hits, {len(hits)} shown (--limit {args.limit})", file=sys.stderr)
    elif not hits:
        print(f"reelscribe: {args.phrase!r} was not found in {args.out}", file=sys.stderr)
        return EXIT_FAILED  # grep's convention: a script can test for a hit
    return EXIT_OK


def _print_table(hits: list, total: int, phrase: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from reelscribe.core.search import MARK_CLOSE, MARK_OPEN

    table = Table(title=f"reelscribe search {phrase!r}: {total} hit(s)")
    for column in ("at", "source", "video_id", "text", "link"):
        table.add_column(column, overflow="fold")
    for h in hits:
        text = escape(h.marked).replace(MARK_OPEN, "[bold yellow]").replace(MARK_CLOSE, "[/bold yellow]")
        table.add_row(h.at, h.source, h.video_id, text, h.link)
    Console(file=sys.stdout).print(table)
