"""Shared helpers of the DAG tests."""
import luigi


def build(*tasks):
    """Run tasks on a local scheduler with fresh task instances (specs may have changed on disk)."""
    luigi.task_register.Register.clear_instance_cache()
    return luigi.build(list(tasks), local_scheduler=True, detailed_summary=True, workers=1)
