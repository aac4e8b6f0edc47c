"""Failures the model-based walk of the user's path (tests/test_user_path.py) found, each kept as
the shortest sequence of user steps that shows it: the CLI in a subprocess, one local API server,
a real lake."""

from __future__ import annotations

import shutil
import signal
import uuid
from pathlib import Path

import pytest

from tests.userpath_kit import ServerView, cli_env, landed_contents, read_lake, render_pool, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared(tmp_path_factory, prefect_engine):
    from reelscribe.server.launcher import EmbeddedServer

    root = tmp_path_factory.mktemp("user-path-regressions")
    pool = render_pool(root / "pool")
    server = EmbeddedServer(root / "server-data").start()
    yield server, prefect_engine, pool, root
    server.stop()


class User:
    """One user's folder (``videos/``) and lake (``lake/``) in ``home``, and their own index."""

    def __init__(self, shared, home: Path) -> None:
        server, prefect_url, self.pool, root = shared
        self.home = home
        (home / "videos").mkdir(parents=True)
        self.env = cli_env(server.base_url, server.api_key, prefect_url, root / "home")
        self.view = ServerView(server.base_url, server.api_key)
        self.index = f"regression-{uuid.uuid4().hex[:10]}"

    def add(self, name: str, clip: int) -> None:
        shutil.copyfile(self.pool[clip].path, self.home / "videos" / name)

    def cli(self, *args: str, **kwargs):
        result = run_cli(list(args), cwd=self.home, env=self.env, **kwargs)
        assert "Traceback" not in result.stderr, result.describe()
        return result

    def run(self, *extra: str, **kwargs):
        return self.cli("run", "videos", "--out", "lake", "--index-name", self.index, "--json", *extra, **kwargs)

    def plan(self, *extra: str):
        return self.cli("plan", "videos", "--out", "lake", "--index-name", self.index, "--json", *extra)

    @property
    def lake(self) -> Path:
        return self.home / "lake"


@pytest.fixture
def user(shared, tmp_path) -> User:
    return User(shared, tmp_path)


def test_export_keeps_each_version_of_an_overwritten_file(user):
    user.add("a.mp4", 0)
    assert user.run().code == 0
    user.add("a.mp4", 1)  # the same name, new content: both versions have landed
    assert user.run().code == 0
    result = user.cli("export", "lake", "--json")
    assert result.code == 0, result.describe()
    paths = [line["path"] for line in result.json_lines()]
    assert len(paths) == 2 and len(set(paths)) == 2, result.describe()


def test_a_renamed_file_is_not_uploaded_again_after_a_stopped_run(user):
    """Found by the walk: start [a, b, a], Ctrl-C at the first upload, two copies of a, run: the
    index held two indexed assets of a. Here reduced to one file, stopped, renamed, run again."""
    user.add("a.mp4", 0)
    found = {}

    def first_upload() -> bool:
        found["id"] = found.get("id") or user.view.index_id(user.index)
        return user.view.progress(found["id"])[0] > 0

    stopped = user.run(interrupt=first_upload, sig=signal.SIGKILL)
    assert stopped.signalled == "SIGKILL", stopped.describe()
    assert not landed_contents(read_lake(user.lake)), "the run landed before it was stopped: nothing to show"
    (user.home / "videos" / "a.mp4").rename(user.home / "videos" / "b.mp4")
    again = user.run()
    assert again.code == 0, again.describe()
    assert landed_contents(read_lake(user.lake)) == {user.pool[0].sha256}
    uploads = user.view.uploads_by_content(found["id"])
    assert max(uploads.values()) == 1, f"content uploaded {max(uploads.values())} times into the index\n{again.describe()}"
