"""Luigi tasks. The only package that imports luigi; importing it registers every task."""
from .base import StageTarget, StageTask, pipeline, stage_target
from .demo import Demo
from .diachronic import (ChangeEvaluation, CompassModel, DiachronicReport, GoldData, PreparedCorpus, ProcrustesSlice,
                         SliceModel, Word2VecSlice)
from .multilingual import AlignedVectors, FastTextVectors
from .ops import PublishArtifacts, RebuildAll
from .report import Report
from .specialization import SpecializedModel
from .static import StaticComparison, StaticCorpus, StaticVectors, TrainedVectors
from .transfer import PretrainedModel, TransferModel

__all__ = ["StageTarget", "StageTask", "pipeline", "stage_target", "Demo", "ChangeEvaluation", "GoldData",
           "CompassModel", "DiachronicReport", "PreparedCorpus", "SliceModel", "Word2VecSlice", "ProcrustesSlice", "AlignedVectors", "FastTextVectors",
           "PublishArtifacts", "RebuildAll", "Report", "SpecializedModel", "PretrainedModel", "TransferModel",
           "StaticComparison", "StaticCorpus", "StaticVectors", "TrainedVectors"]
