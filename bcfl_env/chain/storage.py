"""SQLite persistence for the ledger (WAL mode, one atomic transaction per block).

Tables: ``meta(key, value)`` holds the CA key and root certificate; ``blocks(height, header, qc)``,
``txs(height, idx, body, signature)`` and ``models(digest, data)`` hold the rest as the exact bytes
that were hashed and signed, so verification after loading checks what is on disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bcfl_env.chain.block import Block
from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.transactions import Transaction

__all__ = ["load_ledger", "save_ledger"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, header BLOB NOT NULL, qc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (height INTEGER NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (height, idx));
CREATE TABLE IF NOT EXISTS models (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


def save_ledger(ledger, path: Path) -> None:
    """Append the blocks not yet in ``path`` (creating it); refuses a file of another chain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)
        row = con.execute("SELECT value FROM meta WHERE key='ca_public_key'").fetchone()
        if row is None:
            with con:
                con.execute("INSERT INTO meta VALUES ('ca_public_key', ?)", (ledger.ca_public_key,))
                con.execute("INSERT INTO meta VALUES ('root_cert', ?)", (ledger.root_cert_der,))
        elif bytes(row[0]) != ledger.ca_public_key:
            raise ValueError(f"{path} holds a ledger of another CA; choose a new file")
        stored = con.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()[0]
        if stored >= 0:
            head = con.execute("SELECT header FROM blocks WHERE height=?", (stored,)).fetchone()[0]
            if stored >= len(ledger.blocks) or bytes(head) != ledger.blocks[stored].header:
                raise ValueError(f"{path} holds a different history; choose a new file")
        referenced = _model_refs(ledger)
        for height in range(stored + 1, len(ledger.blocks)):
            block = ledger.blocks[height]
            with con:  # one transaction per block: a crash leaves whole blocks only
                con.execute(
                    "INSERT INTO blocks VALUES (?, ?, ?)", (height, block.header, block.qc_bytes())
                )
                con.executemany(
                    "INSERT INTO txs VALUES (?, ?, ?, ?)",
                    [(height, i, tx.body, tx.signature) for i, tx in enumerate(block.transactions)],
                )
                con.executemany(
                    "INSERT OR IGNORE INTO models VALUES (?, ?)",
                    [
                        (d, ledger.models.get(d))
                        for d in referenced.get(height, [])
                        if d in ledger.models
                    ],
                )
        with con:  # models stored without a reference in any block (kept for completeness)
            con.executemany("INSERT OR IGNORE INTO models VALUES (?, ?)", ledger.models.items())
    finally:
        con.close()


def _model_refs(ledger) -> dict[int, list[str]]:
    refs: dict[int, list[str]] = {}
    for height, tx in ledger.transactions():
        payload = tx["payload"]
        digest = payload.get("params") if tx["kind"] == "update" else payload.get("model")
        if digest and tx["kind"] in ("update", "global_model", "aggregation"):
            refs.setdefault(height, []).append(digest)
    return refs


def load_ledger(path: Path):
    from bcfl_env.chain.ledger import Ledger

    if not path.is_file():
        raise LedgerIntegrityError(None, f"no ledger file at {path}")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            ledger = Ledger(bytes(meta["ca_public_key"]), bytes(meta["root_cert"]))
            txs: dict[int, list[Transaction]] = {}
            for height, _idx, body, sig in con.execute(
                "SELECT height, idx, body, signature FROM txs ORDER BY height, idx"
            ):
                txs.setdefault(height, []).append(Transaction(bytes(body), bytes(sig)))
            expected = 0
            for height, header, qc in con.execute(
                "SELECT height, header, qc FROM blocks ORDER BY height"
            ):
                if height != expected:
                    raise LedgerIntegrityError(
                        expected, f"block {expected} is missing from the file"
                    )
                try:
                    qc_list = Block.qc_from_bytes(bytes(qc))
                except ValueError as exc:
                    raise LedgerIntegrityError(
                        height, f"unreadable quorum certificate: {exc}"
                    ) from exc
                ledger.append(Block(bytes(header), txs.pop(height, []), qc_list))
                expected += 1
            if txs:
                raise LedgerIntegrityError(
                    min(txs), "transactions stored for a block that does not exist"
                )
            for digest, data in con.execute("SELECT digest, data FROM models"):
                ledger.models._blobs[str(digest)] = bytes(data)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            None, f"{path} is not a readable ledger database: {exc}"
        ) from exc
    except KeyError as exc:
        raise LedgerIntegrityError(None, f"{path} lacks ledger metadata {exc}") from exc
    return ledger
