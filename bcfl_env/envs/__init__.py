"""Gymnasium environments, observation and reward builders, wrappers and rendering."""

from bcfl_env.envs.core import BCFLEnv, Selection
from bcfl_env.envs.observation import FEATURES, GLOBAL_FEATURES, as_matrix
from bcfl_env.envs.registration import ENV_IDS, register_envs
from bcfl_env.envs.unwrap import unwrap
from bcfl_env.envs.vector import BCFLVectorEnv
from bcfl_env.envs.wrappers import DiscreteSelection, with_picked_column

__all__ = [
    "ENV_IDS",
    "FEATURES",
    "GLOBAL_FEATURES",
    "BCFLEnv",
    "BCFLVectorEnv",
    "Selection",
    "DiscreteSelection",
    "as_matrix",
    "register_envs",
    "unwrap",
    "with_picked_column",
]
