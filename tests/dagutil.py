"""Shared helpers of the DAG tests."""
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
