"""SQLite persistence for the ledger (WAL mode; one transaction per save, one per load).

Tables: ``meta(key, value)`` holds the CA key and root certificate; ``blocks(height, header, qc)``,
``txs(height, idx, body, signature)`` and ``models(digest, data)`` hold the rest as the exact bytes
that were hashed and signed, so verification after loading checks what is on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcfl_env.chain.block import Block
from bcfl_env.chain.errors import LedgerIntegrityError
from bcfl_env.chain.store import ModelStore
from bcfl_env.chain.transactions import Transaction
from bcfl_env.untrusted import parse_untrusted

__all__ = ["LedgerBusyError", "StoredLedger", "load_ledger", "save_ledger"]


@dataclass
class StoredLedger:
    """What a ledger file holds, as read (not yet verified)."""

    ca_public_key: bytes
    root_cert_der: bytes
    blocks: list[Block]
    models: ModelStore
    signed_head: dict | None = None


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, header BLOB NOT NULL, qc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (height INTEGER NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (height, idx));
CREATE TABLE IF NOT EXISTS models (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


BUSY_TIMEOUT_S = 30.0  # how long a save waits for another process's save to finish


class LedgerBusyError(ValueError):
    """Another process held the ledger file's write lock for longer than the save would wait."""


def save_ledger(
    path: Path,
    ca_public_key: bytes,
    root_cert_der: bytes,
    blocks: list[Block],
    models: ModelStore,
    signed_head: dict | None = None,
) -> None:
    """Append the blocks not yet in ``path`` (creating it); refuses a file of another chain.

    One save is one SQLite transaction: the new blocks, their models and the signed head become
    visible together, or (a crash, a kill) not at all. A new file is built under a temporary name
    and linked into place, so no reader ever sees it half made. Saves from several processes are
    serialised by SQLite's write lock (waiting up to :data:`BUSY_TIMEOUT_S`); the later one then
    appends only what is missing, or refuses a different history.

    Raises:
        ValueError: the file holds another chain or a different history.
        LedgerBusyError: another process kept the file locked past the timeout.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    ledger = StoredLedger(ca_public_key, root_cert_der, blocks, models, signed_head)
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            _save(tmp, ledger)
            try:
                os.link(tmp, path)  # fails if another process created it meanwhile
                return
            except FileExistsError:
                pass  # append to theirs below, under the lock
            except OSError:  # a file system without hard links: replace (last creator wins)
                os.replace(tmp, path)
                return
        finally:
            tmp.unlink(missing_ok=True)
    _save(path, ledger)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``<name>.<pid>.tmp`` files (and their SQLite journals) that a save killed mid-write
    left behind: those whose process no longer runs. A live process's are its own business."""
    for tmp in path.parent.glob(f"{path.name}.*.tmp*"):
        pid_text = tmp.name[len(path.name) + 1 :].split(".tmp", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)  # its writer is gone
        except (PermissionError, OverflowError):
            continue  # alive under another user, or not a pid: leave it


def _save(path: Path, ledger: StoredLedger) -> None:
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            con.execute("BEGIN IMMEDIATE")  # the write lock, before reading what is stored
        except sqlite3.OperationalError as exc:
            raise LedgerBusyError(
                f"{path} is locked by another process's save ({exc}); retry when it is done"
            ) from None
        try:
            _append(con, path, ledger)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _append(con: sqlite3.Connection, path: Path, ledger: StoredLedger) -> None:
    ca_public_key, blocks, models = ledger.ca_public_key, ledger.blocks, ledger.models
    row = con.execute("SELECT value FROM meta WHERE key='ca_public_key'").fetchone()
    if row is None:
        con.execute("INSERT INTO meta VALUES ('ca_public_key', ?)", (ca_public_key,))
        con.execute("INSERT INTO meta VALUES ('root_cert', ?)", (ledger.root_cert_der,))
    elif bytes(row[0]) != ca_public_key:
        raise ValueError(f"{path} holds a ledger of another CA; choose a new file")
    stored = con.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()[0]
    if stored >= len(blocks) and blocks:
        # the file is ahead of this ledger: fine if this ledger is a prefix of it (another saver
        # of the same chain got further); its newer signed head stays
        mine = con.execute(
            "SELECT header FROM blocks WHERE height=?", (len(blocks) - 1,)
        ).fetchone()[0]
        if bytes(mine) != blocks[-1].header:
            raise ValueError(f"{path} holds a different history; choose a new file")
        return
    if stored >= 0:
        head = con.execute("SELECT header FROM blocks WHERE height=?", (stored,)).fetchone()[0]
        if bytes(head) != blocks[stored].header:
            raise ValueError(f"{path} holds a different history; choose a new file")
    referenced = _model_refs(blocks)
    for height in range(stored + 1, len(blocks)):
        _insert_block(con, height, blocks[height], [
            (d, models.get(d)) for d in referenced.get(height, []) if d in models
        ])  # fmt: skip
    # models stored without a reference in any block (kept for completeness)
    con.executemany("INSERT OR IGNORE INTO models VALUES (?, ?)", models.items())
    if ledger.signed_head is not None:
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('signed_head', ?)",
            (json.dumps(ledger.signed_head, sort_keys=True).encode(),),
        )


def _insert_block(
    con: sqlite3.Connection, height: int, block: Block, models: list[tuple[str, bytes]]
) -> None:
    con.execute("INSERT INTO blocks VALUES (?, ?, ?)", (height, block.header, block.qc_bytes()))
    con.executemany(
        "INSERT INTO txs VALUES (?, ?, ?, ?)",
        [(height, i, tx.body, tx.signature) for i, tx in enumerate(block.transactions)],
    )
    con.executemany("INSERT OR IGNORE INTO models VALUES (?, ?)", models)


def _model_refs(blocks: list[Block]) -> dict[int, list[str]]:
    """Model digests each block's transactions name (update parameters, global models)."""
    refs: dict[int, list[str]] = {}
    for height, block in enumerate(blocks):
        for tx in block.transactions:
            data = tx.envelope()
            payload = data.get("payload") or {}
            for key in ("params", "model", "base_model"):
                digest = payload.get(key) if isinstance(payload, dict) else None
                if isinstance(digest, str):
                    refs.setdefault(height, []).append(digest)
    return refs


def _blob(value: object, where: str) -> bytes:
    """A stored cell as bytes; anything but a BLOB (TEXT, a number, NULL) is tampering."""
    if not isinstance(value, bytes):
        raise LedgerIntegrityError(None, f"{where} is a {type(value).__name__}, expected bytes")
    return value


def load_ledger(path: Path) -> StoredLedger:
    if not path.is_file():
        raise LedgerIntegrityError(None, f"no ledger file at {path}")
    try:
        con = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
        try:
            con.execute("BEGIN")  # one read transaction: one snapshot, even while a save commits
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            head = meta.get("signed_head")
            signed_head: Any = None
            try:
                if head is not None:
                    signed_head = parse_untrusted(_blob(head, "meta.signed_head"))
                    # stored canonically (sorted keys, lower-case hex): other bytes were edited
                    signature = str(signed_head.get("signature"))
                    if (
                        json.dumps(signed_head, sort_keys=True).encode() != head
                        or signature != signature.lower()
                    ):
                        raise ValueError("not in canonical form")
            except (TypeError, ValueError, AttributeError) as exc:
                raise LedgerIntegrityError(None, f"unreadable signed head: {exc}") from exc
            stored = StoredLedger(
                _blob(meta["ca_public_key"], "meta.ca_public_key"),
                _blob(meta["root_cert"], "meta.root_cert"), [], ModelStore(),
                signed_head,
            )  # fmt: skip
            txs: dict[int, list[Transaction]] = {}
            for height, _idx, body, sig in con.execute(
                "SELECT height, idx, body, signature FROM txs ORDER BY height, idx"
            ):
                where = f"transaction {_idx} of block {height}"
                txs.setdefault(height, []).append(
                    Transaction(_blob(body, where + " body"), _blob(sig, where + " signature"))
                )
            expected = 0
            for height, header, qc in con.execute(
                "SELECT height, header, qc FROM blocks ORDER BY height"
            ):
                if height != expected:
                    raise LedgerIntegrityError(
                        expected, f"block {expected} is missing from the file"
                    )
                try:
                    qc_list = Block.qc_from_bytes(_blob(qc, f"block {height} qc"))
                except (ValueError, TypeError) as exc:
                    raise LedgerIntegrityError(
                        height, f"unreadable quorum certificate: {exc}"
                    ) from exc
                header_bytes = _blob(header, f"block {height} header")
                stored.blocks.append(Block(header_bytes, txs.pop(height, []), qc_list))
                expected += 1
            if txs:
                raise LedgerIntegrityError(
                    min(txs), "transactions stored for a block that does not exist"
                )
            for digest, data in con.execute("SELECT digest, data FROM models"):
                stored.models.put_raw(str(digest), _blob(data, f"model {str(digest)[:16]}..."))
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            None, f"{path} is not a readable ledger database: {exc}"
        ) from exc
    except KeyError as exc:
        raise LedgerIntegrityError(None, f"{path} lacks ledger metadata {exc}") from exc
    except (UnicodeDecodeError, RecursionError, OverflowError, MemoryError) as exc:
        # a damaged file can break SQLite's text decoding (a flipped byte in the schema page)
        raise LedgerIntegrityError(None, f"{path} is not a readable ledger file: {exc!r}") from exc
    return stored
