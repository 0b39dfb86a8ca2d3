"""One whole FL round: the engine against a plain per-client loop and against Flower (see
:mod:`training.round_compare`).

Usage: python benchmarks/bench_round.py [--ks 10 50 100] [--rounds 5] [--json FILE] [--no-flower]
"""

from training.round_compare import main

if __name__ == "__main__":
    main()
