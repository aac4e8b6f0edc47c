"""MkDocs hook: the reference pages are generated from the code, so they cannot drift from it.

A page asks for a generated part with a marker line such as ``<!-- reference: cli -->``: the CLI
from the argparse parser, the flow parameters from the flows' own signatures (what the Prefect UI's
form shows), the lake's tables from ``reelscribe.core.schema``, the local server's guide from
``server/README.md``, and the benchmarks' results table from ``BENCHMARKS.md``. Each generator is a
pure function from the repository's files to Markdown.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- reference: ([\w-]+) -->$", re.MULTILINE)
HELP_WIDTH = "100"  # argparse wraps to $COLUMNS: fixed, so the page does not depend on a terminal


def on_page_markdown(markdown: str, **_: object) -> str:
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def cli_reference() -> str:
    from reelscribe.cli import build_parser

    os.environ["COLUMNS"] = HELP_WIDTH
    parser = build_parser()
    parts = [_help_block("reelscribe", parser)]
    for name, sub in _subcommands(parser):
        parts.append(_help_block(f"reelscribe {name}", sub))
        for child, subsub in _subcommands(sub):
            parts.append(_help_block(f"reelscribe {name} {child}", subsub))
    return "\n".join(parts)


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _help_block(title: str, parser: argparse.ArgumentParser) -> str:
    return f"## `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```\n"


def flow_parameters() -> str:
    from prefect.utilities.callables import parameter_schema

    from reelscribe.flows.export import export_lake_subtitles
    from reelscribe.flows.incremental import transcribe_new_videos
    from reelscribe.flows.land_indexed import land_indexed
    from reelscribe.flows.maintenance import compact_lake
    from reelscribe.flows.transcribe import transcribe_videos

    parts = []
    for flow in (transcribe_videos, transcribe_new_videos, land_indexed, export_lake_subtitles, compact_lake):
        name = flow.name
        schema = parameter_schema(flow.fn).model_dump()
        rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
        for param, spec in sorted(schema["properties"].items(), key=lambda item: item[1].get("position", 0)):
            default = f"`{spec['default']!r}`" if "default" in spec else "required"
            rows.append(f"| `{param}` | {_type_of(spec)} | {default} | {_cell(spec.get('description', ''))} |")
        parts.append(f"## `{name}`\n\n{_cell((flow.description or '').split('Args:')[0])}\n\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def _type_of(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type_of(s) for s in spec["anyOf"])
    if "allOf" in spec:
        return " and ".join(_type_of(s) for s in spec["allOf"])
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    kind = spec.get("type", "any")
    return f"list of {_type_of(spec['items'])}" if kind == "array" and "items" in spec else kind


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def lake_tables() -> str:
    from reelscribe.core.schema import TABLES

    parts = []
    for name, schema in TABLES.items():
        rows = ["| column | type | nullable |", "|---|---|---|"]
        rows += [f"| `{f.name}` | `{f.type}` | {'yes' if f.nullable else 'no'} |" for f in schema]
        parts.append(f"## `{name}`\n\n`<out>/{name}/index_id=<index_id>/…`\n\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def server_guide() -> str:
    text = (ROOT / "server" / "README.md").read_text()
    return re.sub(r"^#", "##", text, flags=re.MULTILINE)  # under the page's own title


def benchmark_results() -> str:
    """BENCHMARKS.md's results table, so the site shows the same figures the repository keeps once.

    Links to files outside the site (charts, detail files under bench/) become plain paths.
    """
    text = (ROOT / "BENCHMARKS.md").read_text()
    table = [line for line in text.split("## Results", 1)[1].split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    return re.sub(r"\[([^\]]+)\]\((bench/[^)]+)\)", r"`\2`", "\n".join(table)) + "\n"


GENERATORS = {"cli": cli_reference, "flow-parameters": flow_parameters, "tables": lake_tables, "server": server_guide,
              "benchmarks": benchmark_results}
