"""From a dataset name to a trained, evaluated, saved run: the steps the CLI wires together, one
module per concern.

- :mod:`~deeprecs.pipeline.spec`: what was asked (:class:`TrainSpec`);
- :mod:`~deeprecs.pipeline.data`: load, task, split preparation, the validation part;
- :mod:`~deeprecs.pipeline.options`: the one resolver of defaults;
- :mod:`~deeprecs.pipeline.context`: a run's context, the services a model trains itself with;
- :mod:`~deeprecs.pipeline.selection`: options chosen on validation;
- :mod:`~deeprecs.pipeline.pretrain`: the ``--pretrain`` runs, checked;
- :mod:`~deeprecs.pipeline.refit`: refitting on train + validation;
- :mod:`~deeprecs.pipeline.scoring`: a model as the evaluation protocols see it;
- :mod:`~deeprecs.pipeline.train`: :func:`train`, the orchestration.
"""

from deeprecs.pipeline.context import Context, forget_cold
from deeprecs.pipeline.data import evaluation_train, load_data, merge, prepare_split, resolve_task, with_validation_in_train
from deeprecs.pipeline.options import Resolved, resolve
from deeprecs.pipeline.refit import refits_by_default
from deeprecs.pipeline.scoring import evaluate, rating_range, sampled_candidates, validator
from deeprecs.pipeline.selection import choose_on_validation
from deeprecs.pipeline.spec import SPLIT_OPTIONS, TrainSpec
from deeprecs.pipeline.train import setup, train

__all__ = ["SPLIT_OPTIONS", "Context", "Resolved", "TrainSpec", "choose_on_validation", "evaluate", "evaluation_train", "forget_cold",
           "load_data", "merge", "prepare_split", "rating_range", "refits_by_default", "resolve", "resolve_task", "sampled_candidates",
           "setup", "train", "validator", "with_validation_in_train"]
