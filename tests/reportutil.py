"""Helpers of the report tests: complete stage folders made by hand (no DAG run)."""
from __future__ import annotations

from pathlib import Path


def make_stage(root: Path, stage: str, name: str, files: dict) -> Path:
    """``root/stage/name`` holding ``files`` (a relative path -> bytes as they are, anything else as JSON),
    with a success marker over them: a complete stage folder, as the report reads it."""
    from pipeline.identity import write_json
    from pipeline.integrity import write_marker

    folder = root / stage / name
    folder.mkdir(parents=True, exist_ok=True)
    for rel, value in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, bytes):
            (folder / rel).write_bytes(value)
        else:
            write_json(folder / rel, value)
    write_marker(folder, {"stage_id": f"{stage}/{name}", "created": "2026-01-01T00:00:00+00:00"})
    return folder
