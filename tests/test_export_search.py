"""``reelscribe export`` and ``search`` on real lakes: both table formats, local disk and S3 (moto),
words and segments-only videos, a landed clip through the real pipeline and the export flow."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from reelscribe.cli import main
from reelscribe.core.delta_lake import DeltaLake
from reelscribe.core.flatten import segments_table, words_table
from reelscribe.core.lake import Lake
from reelscribe.core.records import VideoRecord
from reelscribe.core.lake_sql import open_reader
from reelscribe.core.search import search_lake
from tests.cuekit import assert_cue_rules, read_with_ffmpeg, read_with_parser

INDEX = "6650a1b2c3d4e5f6a7b8c9d0"
RETRIEVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
# Two segments, the phrase "ask not what your country" across their boundary; a long silence
# before the last sentence.
SEGMENTS = [
    {"start": 0.0, "end": 3.0, "value": "And so, my fellow Americans, ask not"},
    {"start": 3.0, "end": 6.0, "value": "what your country can do for you."},
    {"start": 8.5, "end": 11.5, "value": "Ask what you can do for your country!"},
]
TRANSCRIPT = " ".join(s["value"] for s in SEGMENTS)


def timed_words() -> list[dict]:
    """Words with their own times (as the assets path gives them): 'ask' said at 2.2 s."""
    words, times = [], {0: (0.0, 3.0), 1: (3.0, 6.0), 2: (8.5, 11.5)}
    for n, segment in enumerate(SEGMENTS):
        pieces = segment["value"].split()
        start, end = times[n]
        step = (end - start) / len(pieces)
        words += [{"start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3), "value": p} for i, p in enumerate(pieces)]
    return words


def land(lake, video_id: str, source: str, *, with_words: bool) -> None:
    segments = segments_table(SEGMENTS, video_id=video_id, task_id=f"t-{video_id}", retrieved_at=RETRIEVED)
    extra = {"words": words_table(timed_words(), video_id=video_id, segments=segments)} if with_words else None
    record = VideoRecord(task_id=f"t-{video_id}", source=source, content_sha256=video_id.ljust(64, "0"),
                         duration=12.0, indexed_at=RETRIEVED, retrieved_at=RETRIEVED)
    lake.write_video(INDEX, video_id, segments, record, extra)


def writer(out: str, table_format: str):
    return DeltaLake(out) if table_format == "delta" else Lake(out)


def build(out: str, table_format: str) -> None:
    """One video with words, one without (the tasks path), and the words video's source has a quote."""
    lake = writer(out, table_format)
    land(lake, "aaaa00000000000000000001", "videos/kennedy's speech.mp4", with_words=True)
    land(lake, "bbbb00000000000000000002", "https://example.org/talks/inaugural.mp4?x=1", with_words=False)


def cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


@pytest.fixture(params=["parquet", "delta"])
def lake_out(request, tmp_path: Path) -> str:
    out = str(tmp_path / "it's a lake")
    build(out, request.param)
    return out


def check_files(paths: list[Path]) -> None:
    for path in paths:
        for read in (read_with_parser(path), read_with_ffmpeg(path)):
            assert_cue_rules(read, TRANSCRIPT, gaps=[(6.0, 8.5)])


def test_export_both_formats_from_words_and_from_segments(lake_out: str, tmp_path: Path, capsys) -> None:
    target = tmp_path / "subs"
    written = {}
    for fmt in ("srt", "vtt"):
        code, out, err = cli(capsys, "export", lake_out, "--format", fmt, "--to", str(target))
        assert code == 0, err
        rows = [line.split("\t") for line in out]
        assert sorted((Path(r[0]).name, r[3] != "0", r[4]) for r in rows) == [
            (f"inaugural.{fmt}", True, "segments"), (f"kennedy_s_speech.{fmt}", True, "words"),
        ]
        written[fmt] = [Path(r[0]) for r in rows]
    check_files(written["srt"] + written["vtt"])
    # the words' own times: the first cue starts with the first word, the second sentence after the silence
    cues = read_with_parser(target / "kennedy_s_speech.vtt")
    assert cues[0].start == 0.0 and cues[-1].lines == ("Ask what you can do for your country!",) and cues[-1].start == 8.5


def test_txt_and_json_exports_hold_the_transcript(lake_out: str, tmp_path: Path, capsys) -> None:
    code, out, _ = cli(capsys, "export", lake_out, "--format", "json", "--to", str(tmp_path / "j"), "--json",
                       "--video", "aaaa00000000000000000001")
    assert code == 0 and len(out) == 1
    record = json.loads(out[0])
    cues = json.loads(Path(record["path"]).read_text())
    assert " ".join(c["text"] for c in cues) == TRANSCRIPT and record["built_from"] == "words"
    code, out, _ = cli(capsys, "export", lake_out, "--format", "txt", "--to", str(tmp_path / "t"),
                       "--source", "https://example.org/talks/inaugural.mp4?x=1")
    assert code == 0 and len(out) == 1
    assert " ".join(Path(out[0].split("\t")[0]).read_text().split()) == TRANSCRIPT


def test_search_finds_a_phrase_across_two_segments_in_words_and_in_segments(lake_out: str, capsys) -> None:
    code, out, err = cli(capsys, "search", lake_out, "ASK not, what your country", "--json")
    assert code == 0, err
    hits = {h["video_id"]: h for h in map(json.loads, out)}
    assert set(hits) == {"aaaa00000000000000000001", "bbbb00000000000000000002"}
    by_words, by_segments = hits["aaaa00000000000000000001"], hits["bbbb00000000000000000002"]
    # words: the time of the word "ask" itself (the 6th of 7 words of a 3 s segment)
    assert by_words["start"] == pytest.approx(5 * 3.0 / 7, abs=0.001) and by_words["at"] == "00:00:02.1"
    # segments only: "ask" placed by its characters in the first segment (chars 29-32 of 33)
    assert by_segments["start"] == pytest.approx(3.0 * 24 / 30, abs=0.001)
    for hit in hits.values():
        assert hit["text"] == "And so, my fellow Americans, ask not what your country can do for you."
        assert hit["marked"] == "And so, my fellow Americans, «ask not what your country» can do for you."
        assert hit["end"] > 3.0
    assert by_words["link"] == f"videos/kennedy's speech.mp4#t={by_words['start']:.1f}"
    # pipe: one line per hit, tab-separated; --limit keeps the first
    code, out, err = cli(capsys, "search", lake_out, "country", "--limit", "3")
    assert code == 0 and len(out) == 3 and err == ["reelscribe: 4 hits, 3 shown (--limit 3)"]
    # by source, then time: "country" is the 3rd of 7 words (8 of 27 characters in) of 3.0-6.0 s
    first = out[0].split("\t")
    assert first[:3] == ["https://example.org/talks/inaugural.mp4?x=1", "bbbb00000000000000000002", "00:00:03.9"]
    assert first[3] == "what your «country» can do for you." and first[4] == "https://example.org/talks/inaugural.mp4?x=1#t=3.9"
    assert out[1].split("\t")[3] == "Ask what you can do for your «country»!"


def test_a_phrase_must_be_consecutive_words(lake_out: str) -> None:
    with open_reader(lake_out) as reader:
        assert search_lake(reader, "fellow country")[1] == 0
        assert search_lake(reader, "americans ask")[1] == 2
        assert search_lake(reader, "countr")[1] == 0  # whole words only
        assert search_lake(reader, "for you ask what")[1] == 2  # across a silence, punctuation ignored


def test_on_s3_per_video(s3_bucket, capsys) -> None:
    run_on_s3(s3_bucket, "parquet", capsys)


def test_on_s3_delta(s3_process_bucket, capsys) -> None:
    run_on_s3(s3_process_bucket, "delta", capsys)


def run_on_s3(bucket, table_format: str, capsys) -> None:
    out = bucket.url("lake")
    build(out, table_format)
    code, lines, err = cli(capsys, "export", out, "--format", "vtt", "--to", bucket.url("subs"))
    assert code == 0, err
    assert sorted(bucket.keys("subs/")) == ["subs/inaugural.vtt", "subs/kennedy_s_speech.vtt"]
    code, lines, err = cli(capsys, "search", out, "what your country")
    assert code == 0 and len(lines) == 2, err


# -- bad input: one line, exit 2, nothing written ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{nolake}"], "{nolake}: no lake here (no videos table)"),
        (["search", "{nolake}", "country"], "{nolake}: no lake here (no videos table)"),
        (["export", "{lake}", "--index-id", "nope"], "index 'nope' is not in the lake {lake} (indexes there: 6650a1b2c3d4e5f6a7b8c9d0)"),
        (["search", "{lake}", "country", "--index-id", "nope"], "index 'nope' is not in the lake"),
        (["export", "{lake}", "--video", "nope"], "video 'nope' is not in the lake {lake}"),
        (["export", "{lake}", "--source", "x.mp4"], "no video from source 'x.mp4' in the lake {lake}"),
        (["search", "{lake}", " ?! — ..."], "the phrase ' ?! — ...' has no words to search for"),
        (["search", "{lake}", "country", "--limit", "0"], "--limit must be at least 1"),
        (["export", "{lake}", "--to", "{file}/subs"], "{file}/subs: cannot write subtitle files there"),
        (["export", "{lake}", "--index-name", "talks"], "no index named 'talks' in the lake {lake} (names there: none recorded;"),
        (["search", "{lake}", "country", "--index-name", "talks"], "no index named 'talks' in the lake {lake}"),
    ],
)
def test_bad_input_gets_one_line_and_nothing_is_written(argv, message, tmp_path: Path, capsys, monkeypatch) -> None:
    for name in ("TWELVELABS_BASE_URL", "TWELVE_LABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    lake = str(tmp_path / "lake")
    build(lake, "parquet")
    (tmp_path / "file").write_text("not a folder")
    names = {"lake": lake, "nolake": str(tmp_path / "none"), "file": str(tmp_path / "file")}
    before = sorted(p for p in tmp_path.rglob("*"))
    code, out, err = cli(capsys, *[a.format(**names) for a in argv])
    assert code == 2 and out == [] and len(err) == 1
    assert err[0].startswith("reelscribe: error: " + message.format(**names)), err
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_an_unknown_format_is_refused_by_the_parser(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export", str(tmp_path), "--format", "ass"])
    assert exited.value.code == 2
    assert "invalid choice: 'ass' (choose from srt, vtt, txt, json)" in capsys.readouterr().err.replace("'srt', 'vtt', 'txt', 'json'", "srt, vtt, txt, json")
    assert list(tmp_path.iterdir()) == []


# -- a landed clip, through the real pipeline and the export flow ------------------------------------


@pytest.mark.usefixtures("prefect_engine")
def test_a_landed_clip_exports_to_srt_and_vtt_through_the_flow(api, jfk_copy: Path, tmp_path: Path, capsys) -> None:
    from reelscribe.flows.export import export_lake_subtitles
    from reelscribe.flows.transcribe import transcribe_videos

    out, name = str(tmp_path / "lake"), f"subs-{uuid.uuid4().hex[:8]}"
    (report,) = transcribe_videos(sources=[str(jfk_copy)], index_name=name, out=out)
    written = export_lake_subtitles(out=out, formats=["srt", "vtt"])
    assert sorted(Path(f.path).name for f in written) == ["jfk.srt", "jfk.vtt"]
    assert {f.built_from for f in written} == {"words"}
    glob = f"{out}/segments/**/*.parquet"
    transcript = " ".join(r[0] for r in duckdb.execute(
        "select value from read_parquet($1, hive_partitioning = true) order by segment", [glob]).fetchall())
    assert " ".join(transcript.split()).lower().startswith("and so my fellow americans")
    for f in written:
        for read in (read_with_parser(Path(f.path)), read_with_ffmpeg(Path(f.path))):
            assert_cue_rules(read, transcript)
    code, lines, err = cli(capsys, "search", out, "ask not what your country", "--index-name", name, "--json")
    assert code == 0, err
    (hit,) = map(json.loads, lines)
    assert hit["video_id"] == report.video_id and hit["source"] == str(jfk_copy) and 2.0 < hit["start"] < 6.0
    assert "«ask not what your country»" in hit["marked"].lower()
