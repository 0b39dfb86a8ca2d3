"""Selection policies: the Selector protocol, baselines and SB3 adapters."""

from agents.base import BaseSelector, Selector, scores_from_ranking
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector, RandomSelector
from agents.registry import SELECTORS, make_selector

__all__ = [
    "SELECTORS",
    "BaseSelector",
    "GreedySelector",
    "OortSelector",
    "PowerOfChoiceSelector",
    "RandomSelector",
    "Selector",
    "make_selector",
    "scores_from_ranking",
]
