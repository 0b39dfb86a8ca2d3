"""Real federated learning: data, partitions, batched models and training, aggregation, attacks, DP.

Imports nothing from ``network``, ``chain`` or gymnasium.
"""

from bcfl_env.fl.aggregation import (
    aggregate,
    fedasync,
    fedavg,
    median,
    multi_krum,
    staleness_weight,
    trimmed_mean,
)
from bcfl_env.fl.attacks import ATTACKS, label_flip_map, poison_updates
from bcfl_env.fl.data import Dataset, load_dataset
from bcfl_env.fl.engine import FLEngine, TrainResult
from bcfl_env.fl.evaluation import correctness, evaluate
from bcfl_env.fl.models import ModelSpec, make_model
from bcfl_env.fl.partition import Partition, partition
from bcfl_env.fl.privacy import clip_and_noise, epsilon
from bcfl_env.fl.training import (
    BatchPlan,
    SGDConfig,
    batched_local_train,
    make_batch_plan,
    sequential_local_train,
)

__all__ = [
    "ATTACKS",
    "BatchPlan",
    "Dataset",
    "FLEngine",
    "ModelSpec",
    "Partition",
    "SGDConfig",
    "TrainResult",
    "aggregate",
    "batched_local_train",
    "clip_and_noise",
    "correctness",
    "epsilon",
    "evaluate",
    "fedasync",
    "fedavg",
    "label_flip_map",
    "load_dataset",
    "make_batch_plan",
    "make_model",
    "median",
    "multi_krum",
    "partition",
    "poison_updates",
    "sequential_local_train",
    "staleness_weight",
    "trimmed_mean",
]
