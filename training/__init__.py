"""Training stack: the ``bcfl`` CLI (train, evaluate, leaderboard, audit)."""

__all__: list[str] = []
