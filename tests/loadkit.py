"""A crowd of concurrent uploads to the local server, and what it shows: status codes, peak memory, fairness.

Shared by ``tests/server/test_server_load.py`` (a lean crowd) and ``bench/bench_server_load.py`` (50 × 20 MB).
The figures come from the server itself (its tasks' ``created_at``/``updated_at``, its ``VmHWM``), never
from the client's clock, so the assertions on them do not depend on timing.
"""

from __future__ import annotations

import shutil
import statistics
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

_FREE_BOX_HEADER = 8


def padded_copy(source: Path, dest: Path, size: int) -> Path:
    """``source`` with an MP4 ``free`` box appended so the file is ``size`` bytes: still a valid MP4.

    A large upload that costs the engine no more than the short clip inside it.
    """
    shutil.copyfile(source, dest)
    padding = size - source.stat().st_size
    if padding < _FREE_BOX_HEADER:
        raise ValueError(f"{source} is already {source.stat().st_size} bytes; cannot pad it to {size}")
    with open(dest, "ab") as handle:
        handle.write(struct.pack(">I", padding) + b"free")
        handle.truncate(size)
    return dest


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (``VmHWM`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib * 1024


def reset_peak_rss(pid: int) -> int:
    """Reset the process's ``VmHWM`` to its current RSS (``clear_refs`` 5, Linux ≥ 4.0); returns that RSS.

    Without it the mark still holds the model's loading peak, which a crowd may never exceed.
    """
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib * 1024


@dataclass(frozen=True)
class Answer:
    """One upload's answer: its HTTP status and, when accepted, the task id."""

    status: int
    task_id: str | None
    body: str


def upload_crowd(root_url: str, api_key: str, index_id: str, files: list[Path], timeout: float = 600.0) -> list[Answer]:
    """POST every file to ``/v1.3/tasks`` at once, one thread (and one connection) per file."""

    def upload(path: Path) -> Answer:
        with requests.Session() as session, open(path, "rb") as handle:
            response = session.post(
                f"{root_url}/v1.3/tasks",
                headers={"x-api-key": api_key},
                data={"index_id": index_id},
                files={"video_file": (path.name, handle)},
                timeout=timeout,
            )
        task_id = response.json().get("_id") if response.status_code == 200 else None
        return Answer(response.status_code, task_id, response.text[:300])

    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        return list(pool.map(upload, files))


@dataclass(frozen=True)
class Finished:
    """A task as the server reports it once it is done: when it was created and when it finished."""

    task_id: str
    status: str
    created_at: str
    finished_at: str

    @property
    def queue_seconds(self) -> float:
        """Created to ready, by the server's own clock."""
        return (_moment(self.finished_at) - _moment(self.created_at)).total_seconds()


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def finished_task(task: dict) -> Finished:
    return Finished(task["_id"], task["status"], task["created_at"], task["updated_at"])


def overtakes(tasks: list[Finished]) -> dict[str, int]:
    """Per task: how many tasks created strictly after it finished strictly before it.

    Under first-in-first-out with ``w`` workers this stays below ``w`` (only tasks claimed while it was
    in flight can pass it); a starved task is passed by the whole crowd.
    """
    return {
        task.task_id: sum(
            1 for other in tasks if other.created_at > task.created_at and other.finished_at < task.finished_at
        )
        for task in tasks
    }


def queue_summary(tasks: list[Finished]) -> dict[str, float]:
    """Median and maximum created-to-finished seconds (the server's clock)."""
    waits = [task.queue_seconds for task in tasks]
    return {"median_queue_s": round(statistics.median(waits), 3), "max_queue_s": round(max(waits), 3)}
