"""Selection policies: the Selector protocol, the registry of named selectors, baselines and SB3
adapters. Importing the package registers every shipped selector."""

from agents.base import BaseSelector, Selector, SlotSpec, scores_from_ranking
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector, RandomSelector
from agents.favor import DoubleDQN, FavorSelector, train_favor
from agents.loading import load_selector
from agents.planner import RolloutPlanner
from agents.registry import SELECTORS, baseline_names, make_selector, register_selector
from agents.sb3 import SlotSetPolicy

__all__ = [
    "SELECTORS",
    "BaseSelector",
    "DoubleDQN",
    "FavorSelector",
    "GreedySelector",
    "OortSelector",
    "PowerOfChoiceSelector",
    "RandomSelector",
    "RolloutPlanner",
    "Selector",
    "SlotSetPolicy",
    "SlotSpec",
    "baseline_names",
    "load_selector",
    "make_selector",
    "register_selector",
    "scores_from_ranking",
    "train_favor",
]
