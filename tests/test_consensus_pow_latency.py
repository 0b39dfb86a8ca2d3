"""``pow_latency``: certified exactly like ``bft``; only the block time follows BlockFL's model."""

import numpy as np
from test_chain import make_chain, run_round


def test_pow_latency_blocks_verify_and_take_exponential_block_times():
    chain = make_chain(consensus="pow_latency", pow_mean_block_s=5.0, pow_fork_prob=0.0)
    bft = make_chain()
    times, bft_times = [], []
    for r in range(1, 41):
        outcome, _ = run_round(chain, r, [f"veh{r % 8}"], [0.5])
        assert outcome.committed and len(outcome.block.qc) >= 3  # the same quorum certificate
        times.append(outcome.consensus_s)
        bft_times.append(run_round(bft, r, [f"veh{r % 8}"], [0.5])[0].consensus_s)
    chain.ledger.verify()
    assert chain.ledger.blocks[0].header_fields()["rules"]["consensus"] == "pow_latency"
    assert 3.0 < np.mean(times) < 7.5  # mean 5 s, 40 draws
    assert np.median(times) > 100 * np.median(bft_times)
