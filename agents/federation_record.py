"""What a federated-learning server saw, per client and round: the record ``bcfl calibrate`` reads.

A record is a JSON Lines file (data: read with ``json``, never unpickled or executed). The first
line is the header; every other line is one event, in the order the server saw them::

    {"format": "bcfl-federation-record", "version": 1, "clients_per_round": 10,
     "fl_mode": "sync", "round_deadline_s": null, "model_params": 2410,
     "facts": {"dataset": "digits", "local_epochs": 2, ...}}
    {"kind": "round_start", "round": 1, "time_s": 0.0, "connected": [3, 7, ...],
     "selected": [7, ...]}
    {"kind": "properties", "round": 1, "client": 7, "properties": {"num-examples": 12, ...}}
    {"kind": "update", "round": 1, "client": 7, "outcome": "accepted", "round_trip_s": 1.9,
     "timed_by": "client", "train_loss": 0.41, "num_examples": 12, "reason": null}
    {"kind": "round_end", "round": 1, "time_s": 2.4, "accuracy": 0.31}

Fields:

* header: ``clients_per_round`` (K), ``fl_mode`` (``"sync"``: the round waits for its slowest
  reply or its deadline), ``round_deadline_s`` (null: none), ``model_params`` (floats in one
  update), ``facts``: what the operator knows and states (any of :data:`FACT_KEYS`), never
  inferred.
* ``round_start``: the server's clock [s] at the round's start, the clients connected and the
  clients selected.
* ``properties``: what a client reported about itself (:data:`~agents.server_observation.PROPERTY_KEYS`).
* ``update``: one selected client's fate: ``outcome`` is ``accepted``, ``rejected`` (judged
  and refused), ``error`` (the client failed: an error reply) or ``timeout`` (no reply in time);
  ``round_trip_s`` [s] from the task to the reply, ``timed_by`` ``"client"`` (the reply carried
  its own duration, a simulation's clock) or ``"server"`` (the server timed it) or null
  (unknown: an error reply without a duration).
* ``round_end``: the server's clock and the global model's accuracy after the round.

:class:`RecordWriter` writes one (the Flower strategy does, with ``record=PATH``);
:func:`read_record` reads and validates one, naming the line and field of anything wrong.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FACT_KEYS",
    "OUTCOMES",
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "FederationRecord",
    "RecordWriter",
    "UpdateEvent",
    "read_record",
]

RECORD_FORMAT = "bcfl-federation-record"
RECORD_VERSION = 1
OUTCOMES = ("accepted", "rejected", "error", "timeout")
TIMED_BY = ("client", "server", None)
# what an operator may state about the federation (the calibration takes them as given)
FACT_KEYS: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "data_root": str,
    "partition": str,
    "alpha": (int, float),
    "model": str,
    "hidden": int,
    "local_epochs": int,
    "batch_size": int,
    "lr": (int, float),
    "dp": str,  # the update privacy mechanism clients apply ("none" when not stated)
    "target_accuracy": (int, float),
    "max_rounds": int,
    "num_verifiers": int,
}
MAX_RECORD_BYTES = 256 << 20
MAX_CLIENT_ID = 2**64 - 1  # Flower node ids are unsigned 64-bit


@dataclass(frozen=True)
class UpdateEvent:
    """One selected client's fate in one round."""

    round: int
    client: int
    outcome: str
    round_trip_s: float | None
    timed_by: str | None
    train_loss: float | None
    num_examples: float | None
    reason: str | None = None


@dataclass
class FederationRecord:
    """A validated record: its header and its events, by kind."""

    clients_per_round: int
    fl_mode: str
    round_deadline_s: float | None
    model_params: int
    facts: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)  # round_start merged with round_end
    properties: dict[int, dict[str, float]] = field(default_factory=dict)  # latest per client
    updates: list[UpdateEvent] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # every event line, in order

    @property
    def clients(self) -> list[int]:
        """Every client the server ever saw connected, in order of first sight."""
        seen: dict[int, None] = {}
        for r in self.rounds:
            for node in r["connected"]:
                seen.setdefault(node, None)
        return list(seen)


class RecordWriter:
    """Append a federation's events to a record file, one flushed line each.

    Args:
        path: the file (created, or truncated when it exists).
        clients_per_round: K.
        model_params: floats in one model update.
        fl_mode: ``"sync"`` (the only mode the Flower strategy runs).
        round_deadline_s: the round's deadline, or None.
        facts: what the operator states about the federation (keys of :data:`FACT_KEYS`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clients_per_round: int,
        model_params: int,
        fl_mode: str = "sync",
        round_deadline_s: float | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        header = {
            "format": RECORD_FORMAT,
            "version": RECORD_VERSION,
            "clients_per_round": clients_per_round,
            "fl_mode": fl_mode,
            "round_deadline_s": round_deadline_s,
            "model_params": model_params,
            "facts": dict(facts or {}),
        }
        _check_header(header, "record header")
        self.path = Path(path)
        self._file = self.path.open("w")
        self._write(header)

    def _write(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, allow_nan=False) + "\n")
        self._file.flush()

    def round_start(self, round_: int, time_s: float, connected: list[int], selected: list[int]) -> None:  # fmt: skip
        self._write({"kind": "round_start", "round": round_, "time_s": time_s,
                     "connected": [int(n) for n in connected], "selected": [int(n) for n in selected]})  # fmt: skip

    def properties(self, round_: int, client: int, properties: dict[str, Any]) -> None:
        numbers = {
            str(k): float(v)
            for k, v in properties.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
        }
        self._write({"kind": "properties", "round": round_, "client": int(client), "properties": numbers})  # fmt: skip

    def update(self, event: UpdateEvent) -> None:
        line = {"kind": "update", **event.__dict__}
        for key in ("round_trip_s", "train_loss", "num_examples"):
            value = line[key]
            if value is not None and not math.isfinite(value):
                line[key] = None  # JSON has no infinity; an unknown value is null
        self._write(line)

    def round_end(self, round_: int, time_s: float, accuracy: float) -> None:
        self._write({"kind": "round_end", "round": round_, "time_s": time_s, "accuracy": accuracy})

    def close(self) -> None:
        self._file.close()


# --------------------------------------------------------------------------- reading


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _number(value: Any, where: str, key: str, lo: float = 0.0, optional: bool = False) -> float | None:  # fmt: skip
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"{key}={value!r} is not allowed: a finite number >= {lo}" + (" or null" if optional else ""))  # fmt: skip
    if value < lo:
        raise _fail(where, f"{key}={value!r} is out of range: allowed >= {lo}")
    return float(value)


def _integer(value: Any, where: str, key: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= MAX_CLIENT_ID:
        raise _fail(where, f"{key}={value!r} is not allowed: an integer in [{lo}, {MAX_CLIENT_ID}]")
    return value


def _check_header(header: Any, where: str) -> None:
    if not isinstance(header, dict):
        raise _fail(where, "expected a JSON object")
    if header.get("format") != RECORD_FORMAT:
        raise _fail(where, f"format={header.get('format')!r} is not allowed: expected {RECORD_FORMAT!r}")  # fmt: skip
    if header.get("version") != RECORD_VERSION:
        raise _fail(where, f"version={header.get('version')!r} is not allowed: this bcfl reads version {RECORD_VERSION}")  # fmt: skip
    allowed = {"format", "version", "clients_per_round", "fl_mode", "round_deadline_s", "model_params", "facts"}  # fmt: skip
    if set(header) - allowed:
        raise _fail(where, f"unknown keys {sorted(set(header) - allowed)}: allowed {sorted(allowed)}")  # fmt: skip
    _integer(header.get("clients_per_round"), where, "clients_per_round", 1)
    _integer(header.get("model_params"), where, "model_params", 1)
    if header.get("fl_mode") != "sync":
        raise _fail(where, f"fl_mode={header.get('fl_mode')!r} is not allowed: 'sync'")
    deadline = _number(header.get("round_deadline_s"), where, "round_deadline_s", optional=True)
    if deadline is not None and deadline <= 0:
        raise _fail(where, f"round_deadline_s={deadline} is out of range: allowed > 0 or null")
    facts = header.get("facts", {})
    if not isinstance(facts, dict):
        raise _fail(where, "facts must be a JSON object")
    for key, value in facts.items():
        if key not in FACT_KEYS:
            raise _fail(where, f"facts.{key} is not allowed: choose among {sorted(FACT_KEYS)}")
        kind = FACT_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _fail(where, f"facts.{key}={value!r} has the wrong type")


def read_record(path: str | os.PathLike[str]) -> FederationRecord:
    """Read and validate a record file.

    Raises:
        ValueError: naming the line and the field: not a file, not JSON, an unknown format,
            version, kind or key, a value out of range, or events out of order.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"record={str(path)!r} is not a file")
    if file.stat().st_size > MAX_RECORD_BYTES:
        raise ValueError(f"record {file}: larger than {MAX_RECORD_BYTES} bytes")
    lines = file.read_text().splitlines()
    if not lines:
        raise ValueError(f"record {file} is empty: expected a header line")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise ValueError(f"record {file} line 1: not JSON ({exc.msg})") from None
    _check_header(header, f"record {file} line 1")
    record = FederationRecord(
        header["clients_per_round"], header["fl_mode"], header.get("round_deadline_s"),
        header["model_params"], dict(header.get("facts", {})),
    )  # fmt: skip
    open_round: dict[str, Any] | None = None
    for number, text in enumerate(lines[1:], start=2):
        where = f"record {file} line {number}"
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(event, dict):
            raise _fail(where, "expected a JSON object")
        kind = event.get("kind")
        round_ = _integer(event.get("round"), where, "round", 1)
        if kind == "round_start":
            if open_round is not None:
                raise _fail(where, f"round {round_} starts before round {open_round['round']} ended")  # fmt: skip
            if record.rounds and round_ <= record.rounds[-1]["round"]:
                raise _fail(where, f"round={round_} is out of order: rounds must increase")
            connected = event.get("connected")
            selected = event.get("selected")
            if not isinstance(connected, list) or not isinstance(selected, list):
                raise _fail(where, "connected and selected must be lists of client ids")
            connected = [_integer(n, where, "connected[]") for n in connected]
            selected = [_integer(n, where, "selected[]") for n in selected]
            if not set(selected) <= set(connected):
                raise _fail(where, "selected holds a client that is not connected")
            if len(selected) > record.clients_per_round:
                raise _fail(where, f"{len(selected)} selected: more than clients_per_round={record.clients_per_round}")  # fmt: skip
            open_round = {
                "round": round_, "start_s": _number(event.get("time_s"), where, "time_s"),
                "connected": connected, "selected": selected,
            }  # fmt: skip
        elif kind == "properties":
            client = _integer(event.get("client"), where, "client")
            props = event.get("properties")
            if not isinstance(props, dict):
                raise _fail(where, "properties must be a JSON object")
            record.properties[client] = {
                str(k): v for k, v in props.items()
                if _number(v, where, f"properties.{k}") is not None
            }  # fmt: skip
        elif kind == "update":
            if open_round is None or open_round["round"] != round_:
                raise _fail(where, f"update of round {round_} outside that round")
            client = _integer(event.get("client"), where, "client")
            if client not in open_round["selected"]:
                raise _fail(where, f"client {client} was not selected in round {round_}")
            outcome = event.get("outcome")
            if outcome not in OUTCOMES:
                raise _fail(where, f"outcome={outcome!r} is not allowed: choose one of {list(OUTCOMES)}")  # fmt: skip
            timed_by = event.get("timed_by")
            if timed_by not in TIMED_BY:
                raise _fail(where, f"timed_by={timed_by!r} is not allowed: choose one of {list(TIMED_BY)}")  # fmt: skip
            reason = event.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise _fail(where, "reason must be a string or null")
            record.updates.append(UpdateEvent(
                round_, client, outcome,
                _number(event.get("round_trip_s"), where, "round_trip_s", optional=True),
                timed_by,
                _number(event.get("train_loss"), where, "train_loss", optional=True),
                _number(event.get("num_examples"), where, "num_examples", optional=True),
                reason,
            ))  # fmt: skip
        elif kind == "round_end":
            if open_round is None or open_round["round"] != round_:
                raise _fail(where, f"round {round_} ends without starting")
            end = _number(event.get("time_s"), where, "time_s")
            assert end is not None
            if end < open_round["start_s"]:
                raise _fail(where, f"time_s={end} is before the round's start {open_round['start_s']}")  # fmt: skip
            accuracy = _number(event.get("accuracy"), where, "accuracy")
            assert accuracy is not None
            if accuracy > 1:
                raise _fail(where, f"accuracy={accuracy} is out of range: allowed [0, 1]")
            record.rounds.append({**open_round, "end_s": end, "accuracy": accuracy})
            open_round = None
        else:
            kinds = ["round_start", "properties", "update", "round_end"]
            raise _fail(where, f"kind={kind!r} is not allowed: choose one of {kinds}")
        record.events.append(event)
    return record
