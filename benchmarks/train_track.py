"""The leaderboard's training tracks (see :mod:`training.tracks`): resumable, one row per episode."""

import sys

from training.tracks import main

if __name__ == "__main__":
    sys.exit(main())
