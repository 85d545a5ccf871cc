"""chronolingua: aligned word embeddings across time and languages, as one luigi DAG.

``luigi --module pipeline <Task>`` imports this package, which registers every
task. The project's own ``luigi.cfg`` is read from any working directory (a
``luigi.cfg`` in the working directory or ``LUIGI_CONFIG_PATH`` still wins), so
a failed task exits non-zero wherever the command is run.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def _use_project_config() -> None:
    cfg = Path(__file__).resolve().parents[1] / "luigi.cfg"
    if not cfg.is_file():
        return
    import warnings

    with warnings.catch_warnings():
        # luigi warns about range autoloading on its own import unless a config it
        # has already read says otherwise; ours is only added just below
        warnings.filterwarnings("ignore", message=r"\s*Autoloading range", category=DeprecationWarning)
        from luigi.configuration.cfg_parser import LuigiConfigParser

    paths = LuigiConfigParser._config_paths
    if str(cfg) not in paths:
        paths.insert(0, str(cfg))  # lowest priority: user files read later override it
        LuigiConfigParser.reload()


def _log_through_luigi() -> None:
    """The project's own loggers (``pipeline.*``: epochs, losses, resumes, teacher-pass progress) write where
    luigi's worker log does, at the level it is given (``--log-level``).

    luigi configures only its ``luigi-interface`` logger; records of any other logger reach the root logger,
    which has no handler in a luigi run, so Python dropped everything below WARNING. Making ``luigi-interface``
    the parent of ``pipeline`` sends them through luigi's handler (and on to the root's, as before).
    """
    import logging

    ours = logging.getLogger("pipeline")
    if ours.parent is logging.getLogger():  # not yet rerouted
        ours.parent = logging.getLogger("luigi-interface")


_use_project_config()
_log_through_luigi()

from .dag import *  # noqa: E402,F401,F403  registers the tasks
from .dag import __all__  # noqa: E402,F401
