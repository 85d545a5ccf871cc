"""Shared helpers of the DAG tests."""
import json
import re
from pathlib import Path

import luigi
from luigi.execution_summary import _summary_dict  # what luigi's own summary is made of (luigi is pinned)


def build(*tasks):
    """Run tasks on a local scheduler with fresh task instances (specs may have changed on disk)."""
    luigi.task_register.Register.clear_instance_cache()
    return luigi.build(list(tasks), local_scheduler=True, detailed_summary=True, workers=1)


def outcome(res) -> dict[str, set[str]]:
    """What the run did with each task, as luigi's execution summary groups them:
    ``{"already_done": {...}, "completed": {...}, "failed": {...}, ...}`` of task families
    (only the non-empty groups). ``completed`` are the tasks that ran."""
    return {status: {t.task_family for t in tasks} for status, tasks in _summary_dict(res.worker).items() if tasks}


def assert_nothing_ran(res, *tasks) -> None:
    """A rerun: it succeeded, no task ran, and the scheduler found every one of ``tasks`` already complete."""
    assert res.status == luigi.LuigiStatusCode.SUCCESS, res.summary_text
    assert set(outcome(res)) == {"already_done"}, res.summary_text
    done = {t.task_id for t in _summary_dict(res.worker)["already_done"]}
    assert {t.task_id for t in tasks} <= done, res.summary_text
    assert all(t.complete() for t in tasks)


def assert_failed(res, caplog, family: str, *fragments: str) -> None:
    """The run failed in a task of ``family`` and in no other task, for the reason given: every fragment is in
    the message of the exception that task raised (as the worker logged it; ``caplog`` is pytest's fixture)."""
    assert res.status == luigi.LuigiStatusCode.FAILED, res.summary_text
    assert outcome(res).get("failed") == {family}, res.summary_text
    reasons = [str(r.exc_info[1]) for r in caplog.records
               if r.exc_info and "failed" in r.getMessage() and f"{family}(" in r.getMessage()]
    assert reasons, f"no logged failure of {family}:\n{caplog.text}"
    assert any(all(f in reason for f in fragments) for reason in reasons), reasons


def assert_scheduling_failed(res, caplog, family: str, *fragments: str) -> None:
    """Nothing ran: asking a task of ``family`` whether it is complete raised (a bad spec, a missing input the
    stage identity fingerprints), and every fragment is in the traceback luigi logged for it."""
    assert res.status == luigi.LuigiStatusCode.SCHEDULING_FAILED, res.summary_text
    assert outcome(res) == {"scheduling_error": {family}}, res.summary_text
    reasons = [r.getMessage() for r in caplog.records
               if r.getMessage().startswith(f"Will not run {family}(") and "error in complete()" in r.getMessage()]
    assert reasons, f"no logged scheduling error of {family}:\n{caplog.text}"
    assert any(all(f in reason for f in fragments) for reason in reasons), reasons


#: a stage key: lower-case words joined by ``_`` (``-`` and ``.`` only inside names: ``en-es``, ``1790-1839``)
STAGE_KEY = re.compile(r"[a-z0-9]+(?:[_.-][a-z0-9]+)*")
#: a key that names an evaluation (a benchmark, or a measure of one), whatever its dialect
EVALUATION_KEY = re.compile(r"(?:^|_)(?:simlex|wordsim|similarity|analogy|bli|retrieval)(?:[0-9_]|$)"
                            r"|spearman|mrr|precision_at|top1|accuracy")


def metric_name_problems(metrics: dict) -> list[str]:
    """The keys of ``metrics`` outside the README's scheme: every evaluation metric matches
    :data:`pipeline.evaluators.METRIC_NAME`, every other key :data:`STAGE_KEY`."""
    from pipeline.evaluators import METRIC_NAME

    problems = []
    for key in metrics:
        if not STAGE_KEY.fullmatch(key):
            problems.append(f"{key}: not lower-case words joined by _")
        elif EVALUATION_KEY.search(key) and not METRIC_NAME.fullmatch(key):
            problems.append(f"{key}: an evaluation metric outside <benchmark>_<measure>[-<method>]")
    return problems


def assert_metric_names(outputs: Path, *stages: str) -> dict[str, dict]:
    """Every ``metrics.json`` under ``outputs`` (a project's outputs folder) follows the metric name scheme,
    and the ``stages`` named (``aligned``, ...) wrote one. Returns ``{stage/folder: metrics}``."""
    found = {f"{p.parent.parent.name}/{p.parent.name}": json.loads(p.read_text())
             for p in sorted(Path(outputs).glob("*/*/metrics.json"))}
    problems = [f"{where}: {problem}" for where, m in found.items() for problem in metric_name_problems(m)]
    assert not problems, "\n".join(problems)
    written = {where.split("/")[0] for where in found}
    assert set(stages) <= written, f"no metrics.json of {sorted(set(stages) - written)} under {outputs}"
    return found


def remote_files(remote: Path) -> Path:
    """The folder of a stage on a shared file-system root that holds its files: the upload attempt its
    success marker names (see ``pipeline.dag.base._upload``)."""
    return remote / json.loads((remote / "_SUCCESS").read_text())["attempt"]
