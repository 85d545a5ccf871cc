"""What checking finished stages costs: marker only, the quick check of ``complete()``, and a full hash.

Run over an already built output tree (e.g. after ``luigi --module pipeline Demo``):

    .venv/bin/python bench/bench_integrity.py [--profile smoke] [--repeats 5]

For every stage of the demo's DAG it times ``<folder>/_SUCCESS`` existing (what completeness cost before
markers recorded file hashes), :func:`pipeline.integrity.check_stage` (sizes + the stat cache: the hot path),
and ``check_stage(full=True)`` (every file hashed), and reports the tree's size.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import save_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="full")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import luigi

    from pipeline.dag.base import SUCCESS, StageTarget
    from pipeline.dag.demo import Demo
    from pipeline.dag.ops import dependency_closure
    from pipeline.identity import _HASH_CACHE
    from pipeline.integrity import check_stage, stage_files

    tasks = dependency_closure([Demo(profile=args.profile)])
    folders = [t.output().local for t in tasks if isinstance(t.output(), StageTarget)]
    folders = [f for f in folders if (f / SUCCESS).is_file()]
    n_files = sum(len(stage_files(f)) for f in folders)
    size = sum((f / rel).stat().st_size for f in folders for rel in stage_files(f))

    def best(fn) -> float:
        times = []
        for _ in range(args.repeats):
            _HASH_CACHE.clear()  # a new process: nothing hashed yet
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    bad = [f for f in folders if check_stage(f) is not None]
    result = {
        "profile": args.profile, "stages": len(folders), "files": n_files, "bytes": size, "corrupt": len(bad),
        "marker_only_s": best(lambda: [(f / SUCCESS).is_file() for f in folders]),
        "quick_check_s": best(lambda: [check_stage(f) for f in folders]),
        "full_hash_s": best(lambda: [check_stage(f, full=True) for f in folders]),
    }
    luigi.task_register.Register.clear_instance_cache()
    print(json.dumps(result, indent=2))
    print(f"{len(folders)} stages, {n_files} files, {size / 2**20:.1f} MiB: marker only "
          f"{1e3 * result['marker_only_s']:.2f} ms, quick check {1e3 * result['quick_check_s']:.2f} ms, "
          f"full hash {result['full_hash_s']:.2f} s")
    save_result(f"integrity_{args.profile}", result)


if __name__ == "__main__":
    main()
