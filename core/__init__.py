"""Marketune's engine: plain Python, no Streamlit. Pages, the CLI and tests use this API."""

from .base_models import CATALOG, BaseModel, resolve_base_model
from .check import DataReport, check
from .config import ConfigError, TrainConfig
from .data import MappingReport, Problem, build_texts, split_indices, validate_mapping
from .evaluation import baseline_metrics, classification_metrics, regression_metrics
from .export import neutralise_formulas, to_csv_bytes, to_xlsx_bytes
from .fewshot import choose_method, train_fewshot
from .labeling import LabelStore, label_store, uncertainty_ranking
from .models import FewShotClassifier, SavedModel, TextClassifier, TfidfClassifier, load_folder
from .pipeline import train
from .progress import ProgressEvent, TrainingCancelled, TrainResult
from .reading import LoadedCsv, load_csv, read_csv, read_table
from .registry import (
    ModelInfo,
    can_change,
    can_share,
    delete_model,
    list_models,
    load_model,
    models_root,
    share_model,
    validate_name,
    zip_model,
)
from .words import cjk_share

# Analysis modules are reached as submodules (core.targeting, core.response, core.dashboard,
# core.multilingual, ...) so that importing core stays light for the pages that need none.

__all__ = [
    "CATALOG",
    "BaseModel",
    "ConfigError",
    "DataReport",
    "FewShotClassifier",
    "LabelStore",
    "LoadedCsv",
    "MappingReport",
    "ModelInfo",
    "Problem",
    "ProgressEvent",
    "SavedModel",
    "TextClassifier",
    "TfidfClassifier",
    "TrainConfig",
    "TrainResult",
    "TrainingCancelled",
    "baseline_metrics",
    "build_texts",
    "check",
    "choose_method",
    "cjk_share",
    "classification_metrics",
    "delete_model",
    "can_change",
    "can_share",
    "label_store",
    "list_models",
    "load_csv",
    "load_folder",
    "load_model",
    "models_root",
    "neutralise_formulas",
    "read_csv",
    "read_table",
    "regression_metrics",
    "resolve_base_model",
    "share_model",
    "split_indices",
    "to_csv_bytes",
    "to_xlsx_bytes",
    "train",
    "train_fewshot",
    "uncertainty_ranking",
    "validate_mapping",
    "validate_name",
    "zip_model",
]
