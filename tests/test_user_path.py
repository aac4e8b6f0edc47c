"""The user's path, walked by a model: Hypothesis chooses the operations, the real CLI runs them.

A user keeps a folder of videos and a local lake. Between commands they add videos, copy one
(same bytes, new name), rename one, overwrite one (new bytes, same name) and delete one; they run
``reelscribe run`` (sometimes stopped halfway by Ctrl-C or a killed terminal), ``plan``,
``export``, ``lake convert``, ``lake compact`` and ``search``. Every command is the CLI in a
subprocess against one local API server shared by all examples; each example has its own
folder, lake and index.

After every step the invariants hold:

- every content lands at most once per index: one upload on the server, one row per key in the lake;
- nothing landed is ever lost;
- ``plan`` writes nothing, agrees with the model, and its numbers are what the next ``run`` does;
- an uninterrupted run lands everything in the folder;
- the lake opens in DuckDB and in pandas;
- every command exits 0, 1, 2 or 130, without a traceback, and a command a user may give is not refused.

``REELSCRIBE_USER_PATH_EXAMPLES`` and ``REELSCRIBE_USER_PATH_STEPS`` make it walk further by
hand (``REELSCRIBE_USER_PATH_RANDOM=1``: a new seed each time rather than the fixed one).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from tests.userpath_kit import (
    EXIT_CODES, Result, ServerView, cli_env, lake_format, landed_contents, read_lake, render_pool, repeated_rows,
    run_cli, tree,
)

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("REELSCRIBE_USER_PATH_EXAMPLES", "25"))
STEPS = int(os.environ.get("REELSCRIBE_USER_PATH_STEPS", "8"))
VERBOSE = os.environ.get("REELSCRIBE_USER_PATH_VERBOSE") == "1"
"""Each command, its time and its exit status on stderr as the walk goes (with ``pytest -s``)."""
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=os.environ.get("REELSCRIBE_USER_PATH_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
            *([] if os.environ.get("REELSCRIBE_USER_PATH_SHRINK") == "0" else [Phase.shrink])],
    print_blob=True,
)

SENT = ("new", "changed", "unreadable")
"""Plan statuses whose videos a run sends (and reports ``landed`` or ``failed``)."""
SAME_NAME = {"landed": "skipped"}
"""A plan status whose run report has another name; every other status keeps its name."""


class World:
    """What every example shares: the server, the Prefect API, the clip pool, a folder to work in."""

    def __init__(self, server, prefect_url: str, pool: list, root: Path) -> None:
        self.server = server
        self.view = ServerView(server.base_url, server.api_key)
        self.env = cli_env(server.base_url, server.api_key, prefect_url, root / "home")
        self.pool = pool
        self.root = root
        self.examples = itertools.count()


@pytest.fixture(scope="module")
def world(tmp_path_factory, prefect_engine):
    from reelscribe.server.launcher import EmbeddedServer

    root = tmp_path_factory.mktemp("user-path")
    pool = render_pool(root / "pool")
    server = EmbeddedServer(root / "server-data").start()
    yield World(server, prefect_engine, pool, root)
    server.stop()


class UserPath(RuleBasedStateMachine):
    world: World  # set by the test

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        self.home = w.root / f"example-{next(w.examples)}"
        self.videos = self.home / "videos"
        self.lake = self.home / "lake"
        self.videos.mkdir(parents=True)
        self.index = f"user-path-{uuid.uuid4().hex[:10]}"
        self.index_id: str | None = None
        self.files: dict[str, int] = {}  # file name -> pool clip
        self.landed: set[str] = set()  # content hashes known to have landed
        self.fmt = "parquet"  # the format the user chose (delta after a convert)
        self.names = itertools.count()
        self.runs = 0  # runs started: the lake commands come after the first (a rule's precondition
        # reads only the model, never the disk, so that Hypothesis replays the same choices)
        self.changes = 0  # bumped by every step that changes the folder or the lake
        self.done: dict[str, int] = {}  # read-only command -> ``changes`` when it last ran

    def _fresh(self, command: str) -> bool:
        """Whether ``command`` has not run since the last change: the same command on the same state
        again would only repeat what the walk already saw."""
        return self.done.get(command) != self.changes

    def _ran(self, command: str) -> None:
        self.done[command] = self.changes

    # -- the user's files ------------------------------------------------------------------------

    def _write(self, name: str, clip: int) -> None:
        shutil.copyfile(self.world.pool[clip].path, self.videos / name)
        self.files[name] = clip
        self.changes += 1

    def _new_name(self, stem: str) -> str:
        return f"{stem}{next(self.names)}.mp4"

    def _sha(self, clip: int) -> str:
        return self.world.pool[clip].sha256

    @initialize(fmt=st.sampled_from(["parquet", "delta"]), clips=st.lists(st.integers(0, 5), min_size=1, max_size=3))
    def start(self, fmt: str, clips: list[int]) -> None:
        self.fmt = fmt
        for clip in clips:
            self._write(self._new_name("video"), clip)

    @rule(clip=st.integers(0, 5))
    def add_video(self, clip: int) -> None:
        self._write(self._new_name("video"), clip)

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def copy_video(self, data) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)), label="copy of")
        self._write(self._new_name("copy"), self.files[name])

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def rename_video(self, data) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)), label="rename")
        new = self._new_name("renamed")
        (self.videos / name).rename(self.videos / new)
        self.files[new] = self.files.pop(name)
        self.changes += 1

    @precondition(lambda self: self.files)
    @rule(data=st.data(), clip=st.integers(0, 5))
    def overwrite_video(self, data, clip: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)), label="overwrite")
        if clip == self.files[name]:
            clip = (clip + 1) % len(self.world.pool)
        self._write(name, clip)

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def delete_video(self, data) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)), label="delete")
        (self.videos / name).unlink()
        del self.files[name]
        self.changes += 1

    # -- the commands ----------------------------------------------------------------------------

    def cli(self, *args: str, **kwargs) -> Result:
        started = time.monotonic()
        result = run_cli(list(args), cwd=self.home, env=self.world.env, **kwargs)
        note(result.describe())
        if VERBOSE:
            print(f"[{self.home.name} {time.monotonic() - started:5.1f} s] reelscribe {' '.join(args)} -> {result.code}"
                  f"{f' ({result.signalled})' if result.signalled else ''}", file=sys.stderr, flush=True)
        if result.signalled != "SIGKILL":
            assert result.code in EXIT_CODES, f"exit status outside 0/1/2/130\n{result.describe()}"
        assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, f"a traceback\n{result.describe()}"
        return result

    def _format_args(self, explicit: bool) -> list[str]:
        """``--table-format``: a new lake's format is the user's choice; an existing lake's is read from
        the lake, so the user may repeat the flag or leave it out."""
        if self.fmt == "parquet":
            return []
        return ["--table-format", "delta"] if explicit or lake_format(self.lake) is None else []

    def _target(self, explicit: bool) -> list[str]:
        return ["videos", "--out", "lake", "--index-name", self.index, "--json", *self._format_args(explicit)]

    def _expected(self) -> Counter:
        """What a run of the folder does now, by the model: each content not landed is sent once;
        every other file (a copy, or a content already landed) is skipped or reported a duplicate."""
        unlanded = [self._sha(c) for c in self.files.values() if self._sha(c) not in self.landed]
        return +Counter({"sent": len(set(unlanded)), "not sent": len(self.files) - len(set(unlanded))})

    def _plan(self, explicit: bool) -> Counter:
        before = tree(self.lake)
        result = self.cli("plan", *self._target(explicit))
        assert result.code == 0, f"plan refused a folder of videos\n{result.describe()}"
        assert tree(self.lake) == before, f"plan wrote into the lake\n{result.describe()}"
        lines = result.json_lines()
        totals = next(line["totals"] for line in lines if "totals" in line)
        said = _plan_said(totals)
        assert _in_model_terms(said) == self._expected(), (
            f"plan says {dict(said)}; the folder holds {dict(self._expected())}\n{result.describe()}"
        )
        return said

    @precondition(lambda self: self._fresh("plan"))
    @rule(explicit=st.booleans())
    def plan(self, explicit: bool) -> None:
        self._plan(explicit)
        self._ran("plan")

    @precondition(lambda self: self.files)
    @rule(explicit=st.booleans(), plan_first=st.booleans())
    def run(self, explicit: bool, plan_first: bool) -> None:
        """A whole run: it lands every content of the folder once, and does what ``plan`` said."""
        said = self._plan(explicit) if plan_first else None
        expected = self._expected()
        self.changes += 1
        self.runs += 1
        result = self.cli("run", *self._target(explicit))
        assert result.code == 0, f"a run of clips the engine accepts did not end 0\n{result.describe()}"
        did = _run_did(result)
        if said is not None:
            assert did == said, f"plan said {dict(said)}, the run did {dict(did)}\n{result.describe()}"
        assert _in_model_terms(did) == expected, f"the run did {dict(did)}; the folder held {dict(expected)}\n{result.describe()}"
        self._all_landed(result)
        self._reported_are_landed(result)

    @precondition(lambda self: self.files)
    @rule(explicit=st.booleans(), sig=st.sampled_from([signal.SIGINT, signal.SIGKILL]), after=st.integers(0, 2))
    def run_interrupted(self, explicit: bool, sig: signal.Signals, after: int) -> None:
        """A run stopped by Ctrl-C (SIGINT to its process group) or a killed terminal (SIGKILL) at a point."""
        self.changes += 1
        self.runs += 1
        result = self.cli("run", *self._target(explicit), interrupt=self._after(after), sig=sig)
        if result.signalled == "SIGINT":
            assert result.code in (0, 130), f"Ctrl-C did not end the run with 130\n{result.describe()}"
            if result.code == 130:
                assert "interrupted" in result.stderr, f"Ctrl-C said nothing of what happened\n{result.describe()}"
        elif result.signalled is None:  # it ended before the chosen point
            assert result.code == 0, f"a run of clips the engine accepts did not end 0\n{result.describe()}"
        if result.signalled != "SIGKILL":
            self._reported_are_landed(result)
        if result.code == 0:
            self._all_landed(result)

    def _reported_are_landed(self, result: Result) -> None:
        """Every video a run printed as ``landed`` is in the lake once it has ended."""
        said = {line["video_id"] for line in result.json_lines() if line.get("status") == "landed"}
        videos = read_lake(self.lake).get("videos")
        there = set() if videos is None else set(videos["video_id"].astype(str))
        assert said <= there, f"{len(said - there)} video(s) printed as landed are not in the lake\n{result.describe()}"

    def _all_landed(self, result: Result) -> None:
        now = landed_contents(read_lake(self.lake))
        missing = {self._sha(c) for c in self.files.values()} - now
        assert not missing, f"{len(missing)} content(s) in the folder not landed after a run that ended 0\n{result.describe()}"
        if self.fmt == "delta":
            assert lake_format(self.lake) == "delta", f"a run with --table-format delta made a per-video lake\n{result.describe()}"

    def _after(self, n: int):
        """The interruption point: the first upload of this run seen on the server (``n`` = 0), else
        ``n`` more videos landed (Parquet: their files; Delta, which commits at the end: indexed)."""
        view = self.world.view
        base_jobs, base_ready = view.progress(self._index_id())
        base_files = self._video_files()

        def reached() -> bool:
            jobs, ready = view.progress(self._index_id())
            if n == 0:
                return jobs > base_jobs
            if self.fmt == "parquet":
                return self._video_files() >= base_files + n
            return ready >= base_ready + n

        return reached

    def _video_files(self) -> int:
        return sum(1 for p in (self.lake / "videos").glob("index_id=*/*.parquet") if not p.name.startswith("."))

    def _index_id(self) -> str | None:
        if self.index_id is None:
            self.index_id = self.world.view.index_id(self.index)
        return self.index_id

    @precondition(lambda self: self.runs and self._fresh("export"))
    @rule()
    def export(self) -> None:
        self.changes += 1  # it writes into the lake
        self._ran("export")
        result = self.cli("export", "lake", "--json")
        if self.landed:
            assert result.code == 0, f"export of a lake with videos failed\n{result.describe()}"
            written = result.json_lines()
            assert len(written) == len(self.landed), f"{len(written)} subtitle files for {len(self.landed)} videos\n{result.describe()}"
            paths = [Path(line["path"] if os.path.isabs(line["path"]) else self.home / line["path"]) for line in written]
            assert len(set(paths)) == len(paths), f"two videos' subtitles written to one file\n{result.describe()}"
            assert all(path.is_file() for path in paths), f"a subtitle file said written is not there\n{result.describe()}"

    @precondition(lambda self: self.runs and self._fresh("convert"))
    @rule()
    def convert(self) -> None:
        self.changes += 1
        self._ran("convert")
        if lake_format(self.lake) is None:  # a run stopped before anything landed
            result = self.cli("lake", "convert", "lake")
            assert result.code == 2, f"lake convert of no lake was not refused\n{result.describe()}"
            return
        result = self.cli("lake", "convert", "lake")
        assert result.code == 0, f"lake convert of a lake failed\n{result.describe()}"
        assert lake_format(self.lake) == "delta", f"lake convert left no Delta lake\n{result.describe()}"
        self.fmt = "delta"

    @precondition(lambda self: self.runs and self._fresh("compact"))
    @rule()
    def compact(self) -> None:
        self.changes += 1  # it writes into the lake
        self._ran("compact")
        result = self.cli("lake", "compact", "lake")
        expected = 0 if lake_format(self.lake) == "delta" else 2  # a per-video lake needs no compaction: refused
        assert result.code == expected, f"lake compact ended {result.code}, not {expected}\n{result.describe()}"

    @precondition(lambda self: self.runs and self._fresh("search"))
    @rule(clip=st.integers(0, 5))
    def search(self, clip: int) -> None:
        self._ran("search")
        word = self.world.pool[clip].word
        result = self.cli("search", "lake", word, "--json", "--limit", "100")
        if not self.landed:
            return
        hits = result.json_lines()
        assert result.code in (0, 1), f"search of a lake with videos failed\n{result.describe()}"
        expected = 1 if self._sha(clip) in self.landed else 0
        assert len(hits) == expected, f"{len(hits)} hits for {word!r}, said once in one landed video\n{result.describe()}"

    # -- after every step --------------------------------------------------------------------------

    @invariant()
    def lake_holds(self) -> None:
        frames = read_lake(self.lake)  # opens in DuckDB and pandas, which agree
        twice = repeated_rows(frames)
        assert not twice, f"rows landed twice: {twice}"
        now = landed_contents(frames)
        lost = self.landed - now
        assert not lost, f"{len(lost)} landed content(s) lost from the lake"
        self.landed = now
        if self._index_id() is not None:
            uploads = self.world.view.uploads_by_content(self.index_id)
            twice = {sha[:12]: n for sha, n in uploads.items() if n > 1}
            assert not twice, f"uploaded more than once into the index: {twice}"


_NOT_STATUSES = ("minutes", "unknown_lengths", "bytes_read")
"""Keys of ``plan --json``'s totals that are not statuses."""


def _plan_said(totals: dict) -> Counter:
    """``plan --json``'s totals in the run's words: ``sent`` for the videos a run sends, the run's
    status name for every other."""
    said = Counter()
    for status, n in totals.items():
        if status not in _NOT_STATUSES:
            said["sent" if status in SENT else SAME_NAME.get(status, status)] += n
    return +said


def _run_did(result: Result) -> Counter:
    """The run's ``--json`` lines counted by status, ``sent`` for those landed or failed."""
    did = Counter()
    for line in result.json_lines():
        did["sent" if line["status"] in ("landed", "failed") else line["status"]] += 1
    return +did


def _in_model_terms(counts: Counter) -> Counter:
    """``sent`` and ``not sent``: the model does not say which copy is the duplicate and which skipped."""
    return +Counter({"sent": counts["sent"], "not sent": sum(n for k, n in counts.items() if k != "sent")})


@pytest.mark.timeout(150 * EXAMPLES + 600)  # the walk's commands, then Hypothesis's shrinking (at most 5 minutes)
def test_user_path(world):
    UserPath.world = world
    run_state_machine_as_test(UserPath, settings=SETTINGS)
