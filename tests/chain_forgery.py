"""A colluding quorum (and, where a test says so, a lying MBS or vehicle): rewrite a block with
every key the simulation holds, re-sign what changed, remap transaction ids in everything after
it, and re-link and re-certify every later block. What the forger produces is validly signed
throughout, so only the audit's re-execution of the protocol's rules can catch it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bcfl_env.chain import Block, PermissionedChain, Transaction, make_header, merkle_root
from bcfl_env.chain.block import qc_digest
from bcfl_env.chain.crypto import canonical_bytes, sha256_hex

Edit = Callable[[list[dict[str, Any]], dict[str, Any]], None]


def _remap(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _remap(v, ids) for k, v in value.items()}
    return value


def forge(chain: PermissionedChain, height: int, edit: Edit) -> None:
    """Apply ``edit(decoded transactions, header fields)`` to block ``height`` in place."""
    blocks = chain.ledger.blocks
    ids: dict[str, str] = {}
    prev_hash = blocks[height - 1].block_hash
    for h in range(height, len(blocks)):
        block = blocks[h]
        decoded = [{**tx.decoded(), "_tx": tx} for tx in block.transactions]
        fields = block.header_fields()
        if h == height:
            edit(decoded, fields)
        txs = []
        for entry in decoded:
            old = entry.pop("_tx", None)
            data = _remap(entry, ids)
            body = canonical_bytes(data)
            if old is not None and body == old.body:
                txs.append(old)
                continue
            sender = data["sender"]
            signer = chain.identities.ca_identity if sender == "ca" else chain.identity(sender)
            new = Transaction(body, signer.sign(body))
            if old is not None:
                ids[old.tx_id] = new.tx_id
            txs.append(new)
        extra = {k: v for k, v in fields.items() if k not in _HEADER_KEYS}
        if "prev_qc" in extra:  # format 2: re-link the previous block's (re-made) certificate
            extra["prev_qc"] = qc_digest(blocks[h - 1])
        header = make_header(
            fields["height"], fields["round"], prev_hash, fields["timestamp_s"], fields["proposer"],
            txs, fields["committee"], extra,
        )  # fmt: skip
        assert merkle_root([t.leaf() for t in txs]).hex() == canonical_header(header)["merkle_root"]
        message = bytes.fromhex(sha256_hex(header))
        qc = [(m, chain.identity(m).sign(message)) for m in fields["committee"]]  # all collude
        blocks[h] = Block(header, txs, qc)
        prev_hash = blocks[h].block_hash


def canonical_header(header: bytes) -> dict[str, Any]:
    import json

    return json.loads(header)


def txs_of(decoded: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in decoded if d["kind"] == kind]


_HEADER_KEYS = {
    "height", "round", "prev_hash", "timestamp_s", "proposer", "merkle_root", "tx_count",
    "committee", "quorum",
}  # fmt: skip
