"""Command line: ``python -m pipeline`` or the ``chronolingua`` console script.

    chronolingua run DiachronicReport --spec sotu     # a luigi task (local scheduler unless --scheduler-host)
    chronolingua import-corpora [sotu kjv web rv1909] # put the offline corpora under corpora/
    chronolingua specs                                # validate every spec under tasks/
    chronolingua rebuild [--dry-run] [--online]       # every spec (what a schedule runs); --dry-run says why
    chronolingua publish --store URL                  # build every spec and publish its artifacts
    chronolingua list --store URL                     # what a store holds
    chronolingua download NAME [--version V] [--to DIR] [--store URL]
    chronolingua evaluate-change PATH_OR_URL [--sha256 H] [--corpora-from D] [--json F]  # change vs gold
    chronolingua make-change-benchmark kjv --to DIR   # a SemEval-layout benchmark with injected change
    chronolingua verify [--quick]                     # every finished stage against its success marker
    chronolingua clean [--dry-run]                    # stale temporary folders of killed runs
    chronolingua prune [--dry-run]                    # stage folders superseded by a newer identity
    chronolingua report [--open] [--profile smoke]    # the run report (outputs/report/index.html) from complete stages

A store is a folder, an fsspec URL (s3://...) or, for list and download, an
http(s):// base URL; the default is $CHRONOLINGUA_STORE or [pipeline] store.
"""
from __future__ import annotations

import argparse
import sys


def _run(argv: list[str]) -> int:
    import luigi.configuration
    import luigi.retcodes

    args = ["--module", "pipeline", *argv]
    if any(a.startswith(("--scheduler-host", "--scheduler-url")) for a in argv):
        # luigi.cfg's local_scheduler = true would otherwise win over the central scheduler asked for
        luigi.configuration.get_config().set("core", "local_scheduler", "false")
    elif not any(a.startswith("--scheduler-") or a == "--local-scheduler" for a in argv):
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
    from .spec import spec_profiles

    bad = 0
    loaders = {name: kind.load for name, kind in spec_kinds().items()}
    for path in sorted(p for kind in loaders for p in (tasks_root() / kind).glob("*.yaml")):
        try:
            profiles = spec_profiles(path)
            for profile in [None, *profiles]:
                loaders[path.parent.name](path, profile)
            print(f"ok    {path.parent.name}/{path.stem} (profiles: {', '.join(profiles) or 'none'})")
        except Exception as exc:  # report every bad spec, not only the first
            bad += 1
            msg = str(exc)
            print(f"FAIL  {msg if str(path) in msg else f'{path}: {msg}'}")  # always name the spec file
    return 1 if bad else 0


def _store(ns) -> str:
    from .artifacts import default_store

    if ns.store:
        return ns.store
    if default_store():
        return default_store()
    from .dag.base import pipeline

    return pipeline().store


def _download(ns) -> int:
    from .artifacts import fetch_artifact

    path = fetch_artifact(ns.name, store=_store(ns), version=ns.version, to=ns.to, progress=not ns.quiet,
                          extract=ns.extract)
    print(path)
    return 0


def _list(ns) -> int:
    import json

    from .artifacts import format_listing, list_artifacts

    entries = list_artifacts(_store(ns))
    if ns.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
    else:
        format_listing(entries)
    return 0


def _scheduler_args(ns) -> list[str]:
    args = ["--workers", str(ns.workers)] if ns.workers else []
    if ns.scheduler_host:
        args += ["--scheduler-host", ns.scheduler_host]
        if ns.scheduler_port:
            args += ["--scheduler-port", str(ns.scheduler_port)]
    return args


def _lock_path():
    from .dag.base import outputs_root

    return outputs_root() / ".work" / "rebuild.lock"


def _publish(ns) -> int:
    from .artifacts import open_store
    from .dag.ops import check_selection

    check_selection(ns.specs)  # a --specs entry that names no spec is an error, not an empty publish
    open_store(_store(ns) or "").check_writable()  # before hours of building, not after
    args = ["PublishArtifacts", "--store", _store(ns) or "", "--profile", ns.profile]
    if ns.specs:
        import json

        args += ["--specs", json.dumps(ns.specs)]
    if ns.online:
        args.append("--online")
    return _locked_run(ns, args + _scheduler_args(ns))


def _locked_run(ns, args: list[str]) -> int:
    from .maintenance import AlreadyRunning, run_lock

    if ns.scheduler_host:  # luigid already hands each task to one worker only
        return _run(args)
    try:
        with run_lock(_lock_path(), what="a rebuild or publish run"):
            return _run(args)
    except AlreadyRunning as exc:
        print(f"{exc}", file=sys.stderr)
        return 10  # luigi.cfg [retcode] already_running


def _rebuild(ns) -> int:
    if ns.dry_run:
        return _dry_run(ns)
    args = ["RebuildAll", "--profile", ns.profile] + (["--online"] if ns.online else [])
    return _locked_run(ns, args + _scheduler_args(ns))


def _dry_run(ns) -> int:
    import luigi

    from .dag.ops import dependency_closure, spec_entries
    from .errors import PipelineError
    from .integrity import read_only
    from .maintenance import explain

    invalid: list = []
    entries, skipped = spec_entries(ns.profile, ns.online, invalid=invalid)
    for msg in skipped:
        print(f"skip     {msg}")
    for kind, name, error in invalid:
        print(f"invalid  {kind}/{name}: {error}")
    n, seen, failed = 0, set(), 0
    with read_only():  # a dry run writes nothing, not even a stage's stat cache
        for kind, name, final in entries:
            try:  # a spec whose inputs cannot be read (a missing corpus) is reported; the others still are
                plan = [(task, explain(task)) for task in dependency_closure([final], dynamic=False)
                        if hasattr(task, "stage_id") and task.task_id not in seen]
            except PipelineError as exc:
                failed += 1
                print(f"invalid  {kind}/{name}: {' '.join(str(exc).split())}")
                continue
            seen.update(task.task_id for task, _ in plan)
            plan = [(task, reason) for task, reason in plan if reason is not None]
            for task, reason in plan:
                n += 1
                extra = (" (then the stages it yields, named after the data)"
                         if getattr(task, "yields_stages", False) else "")
                print(f"rebuild  {task.stage_id()}: {reason}{extra}")
    bad = len(invalid) + failed
    print(f"{n} stage(s) would be built; {len(entries)} spec(s) checked"
          + (f"; {bad} invalid spec(s)" if bad else ""))
    luigi.task_register.Register.clear_instance_cache()
    return 1 if bad else 0


def _output_folder():
    """The local output root for verify, clean and prune: a folder, or nothing yet; a file there is an error
    (a mistyped [pipeline] outputs would otherwise be reported as a tree with nothing wrong in it)."""
    from .dag.base import outputs_root
    from .errors import InputError

    root = outputs_root()
    if root.exists() and not root.is_dir():
        raise InputError(root, "the output folder ([pipeline] outputs, $CHRONOLINGUA_OUTPUTS or <project>/outputs)",
                         "found a file; nothing was checked or removed")
    return root


def _verify(ns) -> int:
    import time

    from .dag.base import outputs_url, verify_remote
    from .integrity import verify_tree

    t0, n, bad = time.perf_counter(), 0, 0
    if outputs_url():  # the shared root itself (the local mirror is checked whenever a task reads it)
        found = verify_remote(outputs_url(), full=not ns.quick)
    else:
        outputs = _output_folder()
        if not outputs.exists():
            print(f"no output folder at {outputs} yet: nothing to check")
        found = ((f"{f.parent.name}/{f.name}", p) for f, p in verify_tree(outputs, full=not ns.quick))
    for rel, problem in found:
        n += 1
        if problem:
            bad += 1
            print(f"CORRUPT  {rel}: {problem}")
        elif ns.verbose:
            print(f"ok       {rel}")
    how = "sizes and stat cache" if ns.quick else "sha256 of every file"
    print(f"{n} stage folder(s) checked ({how}) in {time.perf_counter() - t0:.2f} s; {bad} corrupt"
          + ("; they are rebuilt by the next run that needs them" if bad else ""))
    return 1 if bad else 0


def _clean(ns) -> int:
    from .dag.base import outputs_url, remove_remote, stale_remote_attempts
    from .download import redact_url
    from .maintenance import remove_paths, stale_temporaries

    outputs = _output_folder()
    found = stale_temporaries(outputs, max_age=ns.max_age_hours * 3600, grace=ns.grace_seconds)
    for path, why in found:
        print(f"{'would remove' if ns.dry_run else 'remove'}  {path}  ({why})")
    url = outputs_url()  # a shared object-store root: the attempt folders of uploads that never finished
    remote = stale_remote_attempts(url, max_age=ns.max_age_hours * 3600) if url else []
    for path, why in remote:
        print(f"{'would remove' if ns.dry_run else 'remove'}  {redact_url(path)}  ({why})")
    if ns.dry_run:
        print(f"{len(found) + len(remote)} stale path(s); {outputs / '.work'} is never touched")
    else:
        freed = remove_paths(p for p, _ in found)
        if remote:
            remove_remote([p for p, _ in remote])
        print(f"removed {len(found) + len(remote)} path(s), {freed / 2**20:.1f} MiB here"
              f"{f' and {len(remote)} on {redact_url(url)}' if remote else ''}; {outputs / '.work'} left as it is")
    return 0


def _prune(ns) -> int:
    from .dag.ops import current_folders
    from .maintenance import remove_stage_folder, superseded_folders

    outputs = _output_folder()
    profiles = ns.profiles or _all_profiles()
    found = superseded_folders(outputs, current_folders(profiles))
    for path, why in found:
        print(f"{'would remove' if ns.dry_run else 'remove'}  {path}  ({why})")
    if not ns.dry_run:
        for path, _ in found:
            remove_stage_folder(path)
    print(f"{len(found)} superseded stage folder(s) (profiles kept: {', '.join(profiles)})")
    return 0


def _report(ns) -> int:
    from .dag.report import build_report, pages_not_rendered

    res = build_report(ns.profile, ns.online, to=ns.to)
    d = res.as_dict()
    index = res.report_dir.resolve() / "index.html"
    print(f"{index}: {d['pages_written']} stage page(s) written, {d['pages_kept']} kept, {d['pages_removed']} "
          f"removed, in {d['seconds']:.2f} s; {d['bytes'] / 2**20:.1f} MiB on disk")
    if ns.open:
        import webbrowser

        webbrowser.open(index.as_uri())
    if not res.clean:
        print(f"error: {pages_not_rendered(res)}", file=sys.stderr)
        return 1
    return 0


def _spec_name(source: str) -> str:
    import re

    base = source.rstrip("/").rsplit("/", 1)[-1]
    for ext in (".tar.gz", ".tgz", ".zip", ".tar"):
        base = base.removesuffix(ext)
    return re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_") or "gold"


def _os_error(exc: OSError) -> str:
    """One line for an OSError that reached the command line: a file where a folder was to go says so.

    >>> _os_error(FileExistsError(17, "File exists", "out/report"))
    'out/report: expected a folder (or nothing yet) there; found a file ([Errno 17] File exists)'
    >>> _os_error(PermissionError(13, "Permission denied", "/srv/x"))
    "[Errno 13] Permission denied: '/srv/x'"
    """
    import errno

    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and exc.filename:
        found = "a file" if exc.errno == errno.EEXIST else "a file above it"
        return f"{exc.filename}: expected a folder (or nothing yet) there; found {found} ([Errno {exc.errno}] {exc.strerror})"
    return " ".join(str(exc).splitlines())


def _positive_int(text: str, least: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected at least {least}, not {value}")
    return value


def _count(text: str) -> int:
    """A whole number >= 0 (``--workers``: 0 is luigi.cfg's number)."""
    return _positive_int(text, least=0)


def _rate(text: str) -> float:
    """A share in (0, 1] (``--max-rate``, ``--threshold`` of make-change-benchmark)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share above 0 and at most 1, not {text}")
    return value


def _duration(text: str) -> float:
    """A finite number >= 0: a negative age would make every temporary folder, a live run's too, stale."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, not {text}")
    return value


def _evaluate_change(ns) -> int:
    """Gold data (a SemEval-layout folder, an archive, or their URL) -> a spec -> the DAG -> scores."""
    import json
    from pathlib import Path

    import luigi
    import yaml

    from .dag.base import outputs_root, tasks_root
    from .dag.diachronic import ChangeEvaluation
    from .diachronic.spec import load_diachronic_spec
    from .download import is_url
    from .errors import InputError, PipelineError

    name = ns.name or _spec_name(ns.source)
    gold: dict = {"kind": ns.kind, "language": ns.language}
    corpora_from = None
    if ns.corpora_from:  # a DWUG release: its change table judges the corpora of a SemEval folder
        corpora_from = Path(ns.corpora_from).expanduser().resolve()
        if not corpora_from.is_dir():
            raise InputError(corpora_from, "a SemEval-2020 Task 1 folder (corpus1/, corpus2/, ...) for --corpora-from",
                             "no such folder")
        gold.update(layout="dwug", corpora_from=str(corpora_from))
    if is_url(ns.source):  # without --sha256 an unpinned download: its sha256 is recorded, with a warning
        gold["url"] = ns.source
        if ns.sha256:
            gold["sha256"] = ns.sha256
    else:
        path = Path(ns.source).expanduser().resolve()
        if path.is_dir():  # check the gold now: a bad folder is one line here, not a failed task
            from .diachronic.gold import read_dwug, read_gold, read_semeval

            if corpora_from is not None:
                read_dwug(path).with_corpora(read_semeval(corpora_from))
            elif read_gold(path).layout == "dwug":
                raise InputError(path, "with a DWUG release (its stats/ change table), --corpora-from: the "
                                 "SemEval-2020 Task 1 folder of the same language, whose corpora it judges",
                                 "no --corpora-from")
        elif not path.is_file():
            raise InputError(path, "gold change data: a folder in the SemEval-2020 Task 1 layout, its archive "
                             "(.zip, .tar.gz) or their URL", "no such file or folder")
        gold["path"] = str(path)
        if ns.sha256:
            gold["sha256"] = ns.sha256
    spec = {"description": f"Semantic change against the gold data of {ns.source} (written by "
                           "`chronolingua evaluate-change`)",
            "needs_network": bool(is_url(ns.source)), "gold": gold, "tokenizer": {"pretokenized": True},
            "procrustes": {"architecture": "sgns"},
            "report": {"min_freq": ns.min_freq, "seeds": list(range(1, ns.seeds + 1)), "stopwords": "none",
                       "plot_words": 0},
            "evaluation": {"methods": list(ns.methods)}}
    text = ("# Written by `chronolingua evaluate-change`; edit it and run "
            f"`luigi --module pipeline ChangeEvaluation --spec {name}`.\n"
            + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    target = tasks_root() / "diachronic" / f"{name}.yaml"
    if target.exists() and target.read_text(encoding="utf-8") != text and not ns.force:
        raise PipelineError(f"{target}: a different spec of this name exists; pass --name or --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    written_now = not target.exists()  # removed again if the evaluation fails: nothing half-done is left
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_diachronic_spec(tmp)  # validate before it takes the name
    except BaseException:
        tmp.unlink()
        raise
    tmp.replace(target)
    print(f"spec     {target}")
    task = ChangeEvaluation(spec=name, profile=ns.profile)
    failures: list[str] = []

    @luigi.Task.event_handler(luigi.Event.FAILURE)
    def _failed(failed_task, exc):  # the input error a stage raised, as the one line this command prints
        if isinstance(exc, PipelineError):
            failures.append(str(exc))

    try:
        ok = luigi.build([task], local_scheduler=True, workers=1, log_level=ns.log_level)
        done = ok and task.complete()
    finally:
        luigi.Task._event_callbacks.get(luigi.Task, {}).get(luigi.Event.FAILURE, set()).discard(_failed)
    if not done:
        if written_now:
            target.unlink(missing_ok=True)
        reason = failures[-1] if failures else "the log above names the failing stage"
        print(f"error: {reason}", file=sys.stderr)
        print(f"error: the evaluation of {ns.source} did not finish; nothing half-done was kept"
              + (f" (the spec {target} was removed)" if written_now else ""), file=sys.stderr)
        return 1
    folder = task.output().path
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    print((folder / "summary.md").read_text(encoding="utf-8"))
    print(f"results  {folder}  (under {outputs_root()})")
    if ns.json:
        from .identity import write_json

        write_json(Path(ns.json), evaluation)
        print(f"json     {ns.json}")
    return 0


#: make_change_benchmark's parameters as its messages name them -> the options of make-change-benchmark
_BENCHMARK_OPTIONS = {"n_targets": "--targets", "n_stable": "--stable", "binary_threshold": "--threshold",
                      "max_rate": "--max-rate", "pass overwrite=True": "pass --force"}


def _make_benchmark(ns) -> int:
    from pathlib import Path

    from .dag.base import corpora_root
    from .diachronic.benchmark import make_change_benchmark
    from .errors import PipelineError

    def where(c: str) -> Path:
        p = Path(c).expanduser()
        return p if p.exists() else corpora_root() / c

    sources = [where(c) for c in ns.corpora]
    try:
        folder = make_change_benchmark(sources[0], ns.to, corpus2=sources[1] if len(sources) > 1 else None,
                                       design=ns.design, n_targets=ns.targets, max_rate=ns.max_rate,
                                       n_stable=ns.stable, binary_threshold=ns.threshold, seed=ns.seed,
                                       overwrite=ns.force, source=", ".join(ns.corpora))
    except UnicodeError:  # a corpus that is not text: not a setting, let its own error say so
        raise
    except (ValueError, FileExistsError) as exc:  # a setting the text cannot carry: say it with the options' names
        msg = str(exc)
        for param, option in _BENCHMARK_OPTIONS.items():
            msg = msg.replace(param, option)
        raise PipelineError(msg) from None
    print(f"benchmark {folder} (SemEval-2020 Task 1 layout; evaluate it with `chronolingua evaluate-change "
          f"{folder} --kind token`)")
    return 0


def _all_profiles() -> list[str]:
    from .dag.base import tasks_root
    from .dag.registry import spec_kinds
    from .spec import spec_profiles

    names = {"full"}
    for kind in spec_kinds():
        for path in (tasks_root() / kind).glob("*.yaml"):
            names.update(spec_profiles(path))
    return sorted(names)


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

    def scheduler(p):
        p.add_argument("--workers", type=_count, default=0, help="luigi workers in this process (default: luigi.cfg)")
        p.add_argument("--scheduler-host", help="a central luigid (default: local scheduler with a run lock)")
        p.add_argument("--scheduler-port", type=_positive_int)

    p = sub.add_parser("rebuild", help="build every spec under tasks/ (what a schedule runs)")
    p.add_argument("--profile", default="full")
    p.add_argument("--online", action="store_true", help="also specs that declare needs_network: true")
    p.add_argument("--dry-run", action="store_true", help="list what would rebuild and why; build nothing")
    scheduler(p)
    p.set_defaults(func=_rebuild)
    p = sub.add_parser("publish", help="build every spec (or --specs) and publish its artifacts to a store")
    p.add_argument("--store", help="folder or fsspec URL (default $CHRONOLINGUA_STORE or [pipeline] store)")
    p.add_argument("--profile", default="full")
    p.add_argument("--specs", nargs="*", help="kind/name entries, e.g. multilingual/es (default: all)")
    p.add_argument("--online", action="store_true")
    scheduler(p)
    p.set_defaults(func=_publish)
    p = sub.add_parser("list", help="list the artifacts a store holds")
    p.add_argument("--store", help="folder, fsspec URL or http(s):// base URL")
    p.add_argument("--json", action="store_true", help="the manifest entries as JSON")
    p.set_defaults(func=_list)
    p = sub.add_parser("download", help="fetch a published artifact, verified by sha256")
    p.add_argument("name")
    p.add_argument("--version", help="an artifact version (default: the newest)")
    p.add_argument("--to", help="destination folder (default: $CHRONOLINGUA_CACHE or ~/.cache/chronolingua/"
                                "artifacts/<name>/<version>)")
    p.add_argument("--store", help="folder, fsspec URL or http(s):// base URL")
    p.add_argument("--extract", action="store_true", help="unpack a .tar.gz artifact into <to>/<name>/")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_download)
    p = sub.add_parser("evaluate-change", help="score semantic change methods against gold data (SemEval-2020 "
                                               "Task 1 layout: a folder, an archive or its URL)")
    p.add_argument("source", help="folder, .zip / .tar.gz, or http(s) URL of one")
    p.add_argument("--sha256", help="the archive's sha256 (checked before it is read; without it a URL is an "
                                    "unpinned download whose sha256 is recorded)")
    p.add_argument("--name", help="the spec's name under tasks/diachronic/ (default: from the source)")
    p.add_argument("--corpora-from", help="the source is a DWUG release (its stats/ change table): the "
                                          "SemEval-2020 Task 1 folder whose corpora it judges")
    p.add_argument("--kind", choices=["lemma", "token"], default="lemma", help="which corpus files (default lemma)")
    p.add_argument("--language", default="en", help="ISO 639 code of the corpora (default en)")
    p.add_argument("--methods", nargs="+", default=["cade", "procrustes"], choices=["cade", "procrustes"])
    p.add_argument("--seeds", type=_positive_int, default=3, help="runs per method, averaged (default 3)")
    p.add_argument("--min-freq", type=_positive_int, default=5, help="a target needs this many uses in each corpus")
    p.add_argument("--profile", default="full", choices=["full"],
                   help="the written spec has one profile (its settings are the options here)")
    p.add_argument("--json", help="also write the scores to this file")
    p.add_argument("--force", action="store_true", help="replace a different spec of the same name")
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=_evaluate_change)
    p = sub.add_parser("make-change-benchmark", help="write a SemEval-layout benchmark with graded change "
                                                     "injected into real text at known rates")
    p.add_argument("corpora", nargs="+", help="one corpus (split in two) or two (earlier, later): names under "
                                              "corpora/, corpus folders or token files")
    p.add_argument("--to", required=True, help="the new benchmark folder")
    p.add_argument("--design", choices=["swap", "insert"], default="swap")
    p.add_argument("--targets", type=_count, default=16, help="changed targets (default 16)")
    p.add_argument("--stable", type=_count, default=8, help="stable control targets (default 8)")
    p.add_argument("--max-rate", type=_rate, default=0.8, help="the largest share of a target's uses changed")
    p.add_argument("--threshold", type=_rate, default=0.3, help="binary truth: rate >= this (default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.set_defaults(func=_make_benchmark)
    p = sub.add_parser("verify", help="check every finished stage's files against its success marker")
    p.add_argument("--quick", action="store_true", help="sizes and the stat cache only (what complete() does)")
    p.add_argument("--verbose", action="store_true", help="also list the intact stages")
    p.set_defaults(func=_verify)
    p = sub.add_parser("clean", help="remove temporary folders left by killed runs (never outputs/.work), and on a "
                                     "shared object-store root the folders of uploads that never finished")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--max-age-hours", type=_duration, default=24.0,
                   help="a temporary folder this old is stale whoever wrote it (other hosts on shared storage)")
    p.add_argument("--grace-seconds", type=_duration, default=600.0,
                   help="leave anything younger alone (a live run between its rename and its marker)")
    p.set_defaults(func=_clean)
    p = sub.add_parser("prune", help="remove stage folders that the current specs build under a newer identity")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--profiles", nargs="*", help="profiles whose current outputs are kept (default: all)")
    p.set_defaults(func=_prune)
    p = sub.add_parser("report", help="write the run report (a static site, outputs/report/) from complete stages")
    p.add_argument("--profile", default="full", help="the specs' profile whose stages are shown (default full)")
    p.add_argument("--online", action="store_true", help="also specs that declare needs_network: true")
    p.add_argument("--to", help="another folder for the site (default <outputs>/report)")
    p.add_argument("--open", action="store_true", help="open the front page in a web browser")
    p.set_defaults(func=_report)
    ns = parser.parse_args(argv)
    from .errors import PipelineError

    try:
        return ns.func(ns)
    except PipelineError as exc:
        print(f"error: {' '.join(str(exc).splitlines())}", file=sys.stderr)  # one line, always
        return 2
    except OSError as exc:  # a destination that cannot be written (permissions, a full disk): no traceback
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback from wherever the process was
        print(f"error: {ns.command} interrupted" + ("; run it again to resume from the .part file beside the "
                                                   "destination" if ns.command == "download" else ""),
              file=sys.stderr)
        return 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
