"""``make leaderboard``: LEADERBOARD.md from the committed results (see :mod:`training.leaderboard_page`)."""

import sys

from training.leaderboard_page import main

if __name__ == "__main__":
    sys.exit(main())
