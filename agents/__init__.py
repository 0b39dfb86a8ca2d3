"""Selection policies: the Selector protocol, baselines and SB3 adapters."""

from agents.base import BaseSelector, Selector, scores_from_ranking
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector, RandomSelector
from agents.favor import DoubleDQN, FavorSelector, train_favor
from agents.registry import SELECTORS, make_selector
from agents.sb3 import SlotSetPolicy, load_slot_policy

__all__ = [
    "SELECTORS",
    "BaseSelector",
    "DoubleDQN",
    "FavorSelector",
    "GreedySelector",
    "OortSelector",
    "PowerOfChoiceSelector",
    "RandomSelector",
    "Selector",
    "SlotSetPolicy",
    "load_slot_policy",
    "make_selector",
    "scores_from_ranking",
    "train_favor",
]
