"""The run report: a static web site over the complete stages of a run, readable offline from ``file://``.

``build_site(specs, "outputs/report")`` writes it from a plan (:class:`SpecEntry` per spec, each with the
:class:`StageRef` of its stage folders); :func:`pipeline.dag.report.report_plan` makes the plan from the specs
under ``tasks/``, and the ``Report`` task and ``chronolingua report`` call both. No luigi here.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> res = build_site([SpecEntry("diachronic", "toy", stages=(StageRef("cade-report", d / "nowhere"),))], d / "site")
>>> res.stages[str(d / "nowhere")], (d / "site" / "index.html").is_file()
('not built', True)
"""
from .site import BuildResult, SpecEntry, StageRef, build_site, plan_state, read_state, stage_state, tree_bytes

__all__ = ["BuildResult", "SpecEntry", "StageRef", "build_site", "plan_state", "read_state", "stage_state",
           "tree_bytes"]
