"""Upload limits and memory: oversized uploads are cut off on disk, large ones never held in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

LIMIT = 1_000_000


def _vm(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _leftovers(data_dir: Path) -> list[Path]:
    return [p for folder in ("incoming", "media") for p in (data_dir / folder).iterdir()]


def test_upload_over_the_limit_is_refused_and_deleted(make_server, rest_for, tmp_path, media):
    server = make_server("--max-upload-bytes", str(LIMIT), "--workers", "1")
    rest = rest_for(server)
    index_id = rest.create_index()
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(3 * LIMIT))
    response = rest.upload(index_id, big)
    assert response.status_code == 400
    assert response.json()["code"] == "video_filesize_too_large"
    assert str(LIMIT) in response.json()["message"]
    assert _leftovers(server.data_dir) == []
    assert rest.get("/tasks").json()["data"] == []
    exact = tmp_path / "exact.mp4"
    exact.write_bytes(media["silent"].read_bytes())
    assert exact.stat().st_size <= LIMIT
    assert rest.upload(index_id, exact).status_code == 200


def test_url_over_the_limit_fails_the_task(make_server, rest_for, http_files, tmp_path):
    rest = rest_for(make_server("--url-max-bytes", str(LIMIT), "--workers", "1", "--allow-url-network", "127.0.0.0/8"))
    index_id = rest.create_index()
    http_files["big.mp4"] = b"\0" * (2 * LIMIT)
    response = rest.post("/tasks", data={"index_id": index_id, "video_url": http_files.url("big.mp4")})
    assert response.status_code == 200
    task = rest.wait(response.json()["_id"])
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == "video_filesize_too_large"


@pytest.mark.slow
def test_large_upload_is_streamed_to_disk_not_memory(make_server, rest_for, tmp_path, media):
    server = make_server("--workers", "1")
    rest = rest_for(server)
    index_id = rest.create_index()
    warm = rest.submit(index_id, media["silent"])
    assert rest.wait(warm["_id"])["status"] == "ready"  # the model is loaded: its memory is in the baseline
    sparse = tmp_path / "sparse.mp4"
    with open(sparse, "wb") as handle:
        handle.truncate(300 * 1024 * 1024)
    before = _vm(server.pid, "VmHWM")
    response = rest.upload(index_id, sparse)
    assert response.status_code == 200, response.text
    growth_mib = (_vm(server.pid, "VmHWM") - before) / 1024
    assert growth_mib < 40, f"peak RSS grew by {growth_mib:.0f} MiB during a 300 MiB upload"
    task = rest.wait(response.json()["_id"])
    assert task["status"] == "failed"
    assert task["error_reason"]["code"] == "video_file_broken"
    assert _leftovers(server.data_dir) == []
