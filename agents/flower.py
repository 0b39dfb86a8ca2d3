"""Deploy a selector in Flower: a strategy that picks each round's clients with any agents selector.

:class:`SelectorStrategy` wraps a Flower strategy (``FedAvg`` by default, from Flower's message
API, ``flwr.serverapp.strategy``). Each training round it

1. asks clients it has not seen before for their properties (a ``query`` message; see
   :data:`agents.server_observation.PROPERTY_KEYS`; a client without a query handler, or one
   that reports nothing usable, keeps the neutral values),
2. builds the v1 server observation from its record (:class:`~agents.server_observation.ClientBook`:
   reported properties, the round trips and losses of earlier replies, accepted and rejected
   updates),
3. asks the selector for scores and trains the K eligible clients with the highest,
4. judges the replies: an error, a missing or malformed array record, non-finite values or a
   reply past ``round_deadline_s`` is a rejected update; with a :class:`DeploymentLedger` the
   committee of server-side verifiers screens, scores and certifies them on chain,
5. aggregates the accepted ones through the wrapped strategy (or, with a ledger, with the FedAvg
   the audit recomputes).

The wrapped strategy sees only the selected clients and must train all of them (Flower's
``FedAvg`` with ``fraction_train=1.0`` and minimums no larger than K, as the default is built).

Flower is imported here only (``pip install 'bcfl-gym[flower]'``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.common import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Strategy
from flwr.serverapp.strategy.result import Result

from agents.base import Selector, SlotSpec, observed_eligible
from agents.deployment_ledger import (
    ClientUpdate,
    DeploymentLedger,
    count_problem,
    metric_problem,
)
from agents.federation_record import (
    FederationRecord,
    RecordWriter,
    UpdateEvent,
    read_record,
)
from agents.loading import load_selector
from agents.server_observation import FEATURE_NAMES, PROPERTY_KEYS, ClientBook, ServerScales

__all__ = [
    "SelectorStrategy",
    "client_name",
    "flatten",
    "metrics_problem",
    "unflatten",
]


def client_name(node_id: int) -> str:
    """The identity a client holds on the ledger."""
    return f"client-{node_id}"


def flatten(arrays: ArrayRecord) -> tuple[np.ndarray, list[tuple[str, tuple[int, ...]]]]:
    """An array record as one float32 vector and the (key, shape) list that undoes it."""
    parts, layout = [], []
    for key, array in arrays.items():
        value = np.asarray(array.numpy(), dtype=np.float32)
        parts.append(value.reshape(-1))
        layout.append((key, tuple(value.shape)))
    flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return flat, layout


def unflatten(flat: np.ndarray, layout: list[tuple[str, tuple[int, ...]]]) -> ArrayRecord:
    arrays, offset = {}, 0
    for key, shape in layout:
        size = int(np.prod(shape))
        arrays[key] = Array(flat[offset : offset + size].reshape(shape).copy())
        offset += size
    return ArrayRecord(arrays)


def metrics_problem(records: list[dict[str, object]]) -> str | None:
    """Why a reply's metric records cannot weigh an aggregate, or None: ``num-examples`` must be
    an integer in [1, MAX_REPORTED_SAMPLES] (a lie of 1e39 overflowed FedAvg's weights to a NaN
    model) and every numeric metric finite (a diverged client's NaN loss broke the ledger)."""
    examples = next((r["num-examples"] for r in records if "num-examples" in r), None)
    why = count_problem("num-examples", examples)
    for record in records:
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool):  # lists: skipped
                why = why or metric_problem(key, value)
    return why


def _as_float(value: object) -> float | None:
    """A reported number as a float (an integer past any float is infinite); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


class _SelectedGrid:
    """The real grid, showing the wrapped strategy only the selected clients."""

    def __init__(self, grid: Grid, selected: list[int]) -> None:
        self._grid, self._selected = grid, selected

    def get_node_ids(self) -> list[int]:
        return list(self._selected)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


class SelectorStrategy(Strategy):
    """Flower strategy whose client sampling is an ``agents`` selector.

    Args:
        selector: a baseline by name (``"random"``, ``"oort"``, ...), ``"shipped"`` (the PPO
            selector trained in the simulator), a trained ``SlotSetPolicy`` model file, or any
            object with SB3's ``predict`` acting on the spec's observation.
        clients_per_round: K.
        num_slots: N, the most clients a selection sees (the first N to connect).
        inner: the strategy that configures and aggregates; default ``FedAvg`` training every
            selected client, no client-side evaluation (use ``evaluate_fn`` in :meth:`start`).
        scales: how quantities map to the observation's [0, 1] columns.
        duration_key: the reply metric holding the client's round trip [s] (a simulation's
            clock); without it the server times the reply itself.
        loss_key: the reply metric holding the local training loss.
        accuracy_key: the key of the global accuracy in ``evaluate_fn``'s or the clients'
            aggregated evaluation metrics.
        round_deadline_s: replies whose round trip exceeds it are rejected as late (synchronous
            FL's deadline); ``None``: wait for every reply.
        ledger: record tasks, updates, verdicts and aggregations on a bcfl ledger.
        query_timeout_s: how long to wait for new clients' properties, and for K clients to
            connect before a round starts.
        seed: the selector's generator.
        record: write what the server sees, per client and round, to this file
            (:mod:`agents.federation_record`; ``bcfl calibrate`` fits a scenario to it).
        facts: what the operator states about the federation, written into the record's header
            (:data:`agents.federation_record.FACT_KEYS`: data set, model, local epochs, ...).
        history: a record of this federation's earlier rounds: the server resumes from it (its
            client book, clock and accuracy, and the round count) instead of starting blind.
        identity_key: a property under which clients report a stable identity (a device
            serial, say): new clients take slots in the order of their identities rather than
            of their node ids, which Flower draws anew on every start, so a seeded selector
            picks the same clients when the federation is run again. A client that reports no
            usable identity (or whose query fails) takes no slot and is asked again next round.
        min_clients: how many clients must be connected before a round starts (waiting at
            most ``query_timeout_s``); default K. Set it to the federation's size for runs that
            must repeat: clients that register late take later slots.

    After :meth:`start`, :attr:`history` holds one entry per round: the round, the server's
    clock [s], the accuracy and the clients trained.
    """

    def __init__(
        self,
        selector: str | Path | Selector = "shipped",
        *,
        clients_per_round: int,
        num_slots: int,
        inner: Strategy | None = None,
        scales: ServerScales | None = None,
        duration_key: str | None = "duration-s",
        loss_key: str = "train-loss",
        accuracy_key: str = "accuracy",
        round_deadline_s: float | None = None,
        ledger: DeploymentLedger | None = None,
        query_timeout_s: float = 60.0,
        seed: int = 0,
        record: str | Path | None = None,
        facts: dict[str, Any] | None = None,
        history: str | Path | FederationRecord | None = None,
        identity_key: str | None = None,
        min_clients: int | None = None,
    ) -> None:
        self.identity_key = identity_key
        if min_clients is not None and not 1 <= min_clients <= num_slots:
            raise ValueError(f"min_clients={min_clients} is out of range: allowed [1, {num_slots}]")
        self.min_clients = max(clients_per_round, min_clients or 0)
        self.book = ClientBook(num_slots, clients_per_round, scales)
        self.spec = SlotSpec(tuple(FEATURE_NAMES), num_slots, clients_per_round)
        self.selector = load_selector(selector, self.spec, seed=seed)
        self.inner = inner or FedAvg(
            fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1
        )
        for name in ("min_train_nodes", "min_available_nodes"):
            value = getattr(self.inner, name, 0)
            if value > clients_per_round:
                raise ValueError(
                    f"inner.{name}={value} is out of range: allowed [0, {clients_per_round}] "
                    "(the wrapped strategy sees only the selected clients)"
                )
        if getattr(self.inner, "fraction_train", 1.0) != 1.0:
            raise ValueError("inner.fraction_train must be 1.0: the selector does the sampling")
        if round_deadline_s is not None and not (
            math.isfinite(round_deadline_s) and round_deadline_s > 0
        ):
            raise ValueError(f"round_deadline_s={round_deadline_s!r} is out of range: allowed > 0")
        self.duration_key, self.loss_key, self.accuracy_key = duration_key, loss_key, accuracy_key
        self.round_deadline_s = round_deadline_s
        self.ledger = ledger
        self.query_timeout_s = query_timeout_s
        self.arrayrecord_key = getattr(self.inner, "arrayrecord_key", "arrays")
        self.clock_s = 0.0
        self.accuracy = 0.0
        self.history: list[dict[str, Any]] = []
        self._selected: list[int] = []
        self._sent_at = 0.0
        self._layout: list[tuple[str, tuple[int, ...]]] = []
        self._base: np.ndarray | None = None
        self._reported: dict[int, dict[str, Any]] = {}  # properties heard this round
        self._server_round = 0
        self.record_path = Path(record) if record is not None else None
        self.facts = dict(facts or {})
        self._writer: RecordWriter | None = None  # opened with the first round (model size)
        self.round_offset = 0
        if history is not None:
            self.resume_from(
                history if isinstance(history, FederationRecord) else read_record(history)
            )

    # ------------------------------------------------------------------ Strategy API
    def summary(self) -> None:
        log(INFO, "\t├──> Selector: %s, K=%d of N=%d slots", getattr(self.selector, "name", type(self.selector).__name__), self.spec.budget, self.spec.num_slots)  # fmt: skip
        log(INFO, "\t├──> Ledger: %s", self.ledger.path if self.ledger else "off")
        log(INFO, "\t└──> Wrapped strategy: %s", type(self.inner).__name__)

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
    ) -> Result:
        """Flower's loop; the accuracy ``evaluate_fn`` reports also feeds the observation."""

        def evaluate(round_: int, arrays: ArrayRecord) -> MetricRecord | None:
            metrics = evaluate_fn(round_, arrays) if evaluate_fn else None
            if metrics is not None and self.accuracy_key in metrics:
                self.accuracy = float(metrics[self.accuracy_key])  # type: ignore[arg-type]
            if round_ > 0:
                self.history.append(
                    {"round": round_ + self.round_offset, "time_s": self.clock_s,
                     "accuracy": self.accuracy, "selected": list(self._selected)}
                )  # fmt: skip
                if self._writer is not None:
                    self._writer.round_end(round_ + self.round_offset, self.clock_s, self.accuracy)
            return metrics

        result = super().start(
            grid, initial_arrays, num_rounds, timeout, train_config, evaluate_config, evaluate
        )
        if self.ledger is not None and self.ledger.started:
            self.ledger.close(self.clock_s)
        if self._writer is not None:
            self._writer.close()
        return result

    def resume_from(self, record: FederationRecord) -> None:
        """Take over a federation from its record: replay what the server saw into the client
        book (slots in order of first sight, properties, round trips, losses, verdicts) and
        continue its clock, accuracy and round count."""
        if record.clients_per_round != self.spec.budget:
            raise ValueError(
                f"history: clients_per_round={record.clients_per_round} differs from this "
                f"strategy's {self.spec.budget}"
            )
        offset = self.round_offset
        for event in record.events:
            kind, round_ = event["kind"], int(event["round"]) + offset
            if kind == "round_start":
                self.book.see(event["connected"])
                self.book.selected([n for n in event["selected"] if n in self.book.clients], round_ - 1)  # fmt: skip
            elif kind == "properties":
                self.book.report_properties(int(event["client"]), event["properties"])
            elif kind == "update":
                node, outcome = int(event["client"]), event["outcome"]
                if outcome == "timeout":
                    self.book.timed_out(node, event["round_trip_s"] or 0.0)
                else:
                    self.book.outcome(node, outcome == "accepted", event["train_loss"],
                                      event["round_trip_s"], event["num_examples"])  # fmt: skip
        if record.rounds:
            last = record.rounds[-1]
            self.clock_s, self.accuracy = float(last["end_s"]), float(last["accuracy"])
            self.round_offset = offset + int(last["round"])

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        connected = self._wait_for_nodes(grid)
        self._server_round = server_round
        self._admit(grid, connected)
        connected = self._in_slot_order(connected)
        self._base, self._layout = flatten(arrays)
        if self.ledger is not None:
            self._ledger_enrol(connected)
        selected = self.select(connected, server_round - 1 + self.round_offset)
        self._selected = selected
        if self.record_path is not None:
            if self._writer is None:
                self._writer = RecordWriter(
                    self.record_path, clients_per_round=self.spec.budget,
                    model_params=int(self._base.size), round_deadline_s=self.round_deadline_s,
                    facts=self.facts,
                )  # fmt: skip
            self._writer.round_start(server_round + self.round_offset, self.clock_s, connected, selected)  # fmt: skip
            for node in self._reported:
                self._writer.properties(server_round + self.round_offset, node, self._reported[node])  # fmt: skip
        self._reported = {}
        if not selected:
            log(WARNING, "configure_train: no eligible client connected; round %d skipped", server_round)  # fmt: skip
            return []
        self.book.selected(selected, server_round - 1 + self.round_offset)
        if self.ledger is not None:
            self.ledger.assign(server_round, [client_name(n) for n in selected], self.clock_s)
        messages = list(
            self.inner.configure_train(
                server_round,
                arrays,
                config,
                _SelectedGrid(grid, selected),  # type: ignore[arg-type]
            )
        )
        addressed = sorted(m.metadata.dst_node_id for m in messages)
        if addressed != sorted(selected):
            raise RuntimeError(
                f"the wrapped strategy addressed {addressed}, not the selected clients "
                f"{sorted(selected)}: it must train every client it is shown"
            )
        self._sent_at = time.time()
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        # in slot order: replies arrive in any order, and a float sum depends on its order
        replies = sorted(replies, key=lambda m: self._slot_key(m.metadata.src_node_id))
        waited = time.time() - self._sent_at
        valid, trips = self._judge(replies, waited)
        answered = {m.metadata.src_node_id for m in replies}
        for node in self._selected:
            if node not in answered:
                self.book.timed_out(node, trips.get(node, waited))
                self._write_update(node, "timeout", trips.get(node, waited), "server", None, None, "no reply")  # fmt: skip
        self.clock_s += self._round_time(trips, answered)
        if self.ledger is not None:
            return self._ledger_round(server_round, valid)
        for msg in valid:
            self._record(msg, accepted=True)
        return self.inner.aggregate_train(server_round, valid)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        metrics = self.inner.aggregate_evaluate(server_round, replies)
        if metrics is not None and self.accuracy_key in metrics:
            self.accuracy = float(metrics[self.accuracy_key])  # type: ignore[arg-type]
        return metrics

    def _wait_for_nodes(self, grid: Grid) -> list[int]:
        """The connected nodes, once ``min_clients`` are (or ``query_timeout_s`` passed): a round
        must not start before the clients have registered (a simulation's nodes register
        while the first round is being configured; a skipped round distorts every count)."""
        connected = sorted(grid.get_node_ids())
        deadline = time.time() + self.query_timeout_s
        while len(connected) < self.min_clients and time.time() < deadline:
            time.sleep(0.2)
            connected = sorted(grid.get_node_ids())
        return connected

    # ------------------------------------------------------------------ selection
    def observation(self, connected: Iterable[int], round_: int) -> np.ndarray:
        """The (N + 1, F) observation the selector sees this round."""
        return self.book.observation(connected, round_, self.accuracy, self.clock_s)

    def select(self, connected: list[int], round_: int) -> list[int]:
        """The K (or fewer) eligible connected clients with the selector's highest scores."""
        obs = self.observation(connected, round_)
        action, _ = self.selector.predict(obs.reshape(-1), deterministic=True)
        scores = np.asarray(action, dtype=np.float64).reshape(-1)
        if scores.shape != (self.spec.num_slots,) or not np.isfinite(scores).all():
            raise ValueError(
                f"selector {getattr(self.selector, 'name', self.selector)!r} returned an action "
                f"of shape {scores.shape}, expected ({self.spec.num_slots},) finite scores"
            )
        eligible = np.flatnonzero(observed_eligible(obs, FEATURE_NAMES))
        order = eligible[np.argsort(-scores[eligible], kind="stable")]
        return self.book.nodes_of(order[: self.spec.budget])

    # ------------------------------------------------------------------ what replies carry
    def _admit(self, grid: Grid, connected: list[int]) -> None:
        """Give clients never seen a slot (ordered by ``identity_key`` where they report one)
        and note what they report about themselves."""
        new = [n for n in connected if n not in self.book.clients and n not in self.book.overflow]
        reported = self._ask_properties(grid, new)
        unanswered = [n for n in new if n not in reported]
        if unanswered:  # a lost or late reply (a busy client): ask once more before giving up
            reported.update(self._ask_properties(grid, unanswered))
        if self.identity_key is not None:  # only identified clients, in identity order
            identity = {n: self._identity(reported.get(n, {})) for n in new}
            new = sorted((n for n in new if identity[n] is not None), key=lambda n: (identity[n], n))  # fmt: skip
        self.book.see(new)
        for node in new:
            if node in reported:
                self.book.report_properties(node, reported[node])
                self._reported[node] = reported[node]

    def _identity(self, props: dict[str, Any]) -> float | None:
        identity = _as_float(props.get(self.identity_key)) if self.identity_key else None
        return identity if identity is not None and math.isfinite(identity) else None

    def _slot_key(self, node: int) -> tuple[int, int]:
        record = self.book.clients.get(node)
        return (record.slot, node) if record is not None else (self.spec.num_slots, node)

    def _in_slot_order(self, nodes: Iterable[int]) -> list[int]:
        """Nodes by slot (then node id): the order the record keeps, so a resumed server gives
        the same slots."""
        return sorted(nodes, key=self._slot_key)

    def _ask_properties(self, grid: Grid, nodes: list[int]) -> dict[int, dict[str, Any]]:
        """What each of ``nodes`` reports about itself (absent: no usable reply)."""
        if not nodes:
            return {}
        content = RecordDict({"config": ConfigRecord({"keys": list(PROPERTY_KEYS)})})
        messages = [
            Message(content=content, dst_node_id=node, message_type=MessageType.QUERY)
            for node in nodes
        ]
        reported: dict[int, dict[str, Any]] = {}
        for reply in grid.send_and_receive(messages, timeout=self.query_timeout_s):
            if reply.has_error():
                continue  # no query handler, or it failed: neutral values
            props = reply.content.get("properties")
            if isinstance(props, MetricRecord | ConfigRecord):
                reported[reply.metadata.src_node_id] = dict(props)
        return reported

    def _metric(self, msg: Message, key: str | None) -> float | None:
        """A number the reply carries under ``key``; None for an error reply or a missing key."""
        if key is None or msg.has_error() or not msg.has_content():
            return None
        for record in msg.content.metric_records.values():
            if key in record:
                return _as_float(record[key])
        return None

    def _trip(self, msg: Message, waited: float) -> tuple[float | None, str | None]:
        """A reply's round trip and who timed it: the reply's own duration (a simulation's
        clock), else the server's wait; an error reply without a duration under a simulated
        clock has none (the server cannot place it on that clock)."""
        trip = self._metric(msg, self.duration_key)
        if trip is not None and trip >= 0:
            return trip, "client"
        if msg.has_error() and self.duration_key is not None:
            return None, None
        return waited, "server"

    def _judge(
        self, replies: list[Message], waited: float
    ) -> tuple[list[Message], dict[int, float]]:
        """Usable replies, and each reply's known round trip; unusable ones are rejected here."""
        valid, trips = [], {}
        selected = set(self._selected)
        for msg in replies:
            node = msg.metadata.src_node_id
            trip, _ = self._trip(msg, waited)
            if trip is not None:
                trips[node] = trip
            if node not in selected:
                continue  # not asked this round: not ours to judge
            why = self._problem(msg, trip if trip is not None else 0.0)
            if why is None:
                valid.append(msg)
            else:
                log(INFO, "aggregate_train: update of node %d rejected (%s)", node, why)
                self._record(msg, accepted=False, trip=trip, reason=why)
        return valid, trips

    def _problem(self, msg: Message, trip: float) -> str | None:
        if msg.has_error():
            return f"error: {msg.error.reason}"
        if not msg.has_content():
            return "empty reply"
        if self.round_deadline_s is not None and trip > self.round_deadline_s:
            return f"late: {trip:.2f} s > {self.round_deadline_s} s"
        why = metrics_problem([dict(r.items()) for r in msg.content.metric_records.values()])
        if why is not None:
            return why
        arrays = msg.content.array_records.get(self.arrayrecord_key)
        if arrays is None:
            return f"no array record {self.arrayrecord_key!r}"
        try:
            flat, layout = flatten(arrays)
        except (TypeError, ValueError) as exc:
            return f"unreadable arrays: {exc}"
        if layout != self._layout:
            return "arrays do not match the global model's keys and shapes"
        if not np.isfinite(flat).all():
            return "non-finite parameters"
        return None

    def _record(
        self, msg: Message, accepted: bool, trip: float | None = None, reason: str | None = None
    ) -> None:
        node = msg.metadata.src_node_id
        timed_by: str | None = "server" if trip is not None else None
        measured = self._metric(msg, self.duration_key)
        if measured is not None and measured >= 0:
            trip, timed_by = measured, "client"
        loss, size = self._metric(msg, self.loss_key), self._metric(msg, "num-examples")
        self.book.outcome(node, accepted, loss, trip, size)
        outcome = "accepted" if accepted else ("error" if msg.has_error() else "rejected")
        self._write_update(node, outcome, trip, timed_by, loss, size, reason)

    def _write_update(
        self, node: int, outcome: str, trip: float | None, timed_by: str | None,
        loss: float | None, size: float | None, reason: str | None,
    ) -> None:  # fmt: skip
        if self._writer is None:
            return

        def usable(x: float | None) -> float | None:
            return x if x is not None and math.isfinite(x) and x >= 0 else None

        self._writer.update(UpdateEvent(
            self._server_round + self.round_offset, node, outcome, usable(trip),
            timed_by if usable(trip) is not None else None, usable(loss), usable(size), reason,
        ))  # fmt: skip

    def _round_time(self, trips: dict[int, float], answered: set[int] | None = None) -> float:
        """A synchronous round lasts until its slowest selected reply (or the deadline); a
        reply with no known round trip (an error under a simulated clock) does not lengthen it."""
        answered = answered if answered is not None else set()
        times = [
            trips.get(node, math.inf)
            for node in self._selected
            if node in trips or node not in answered
        ]
        longest = max(times, default=0.0)
        if self.round_deadline_s is not None:
            longest = min(longest, self.round_deadline_s)
        if not math.isfinite(longest):  # a missing reply without a deadline: the time waited
            longest = max((t for t in times if math.isfinite(t)), default=0.0)
        return float(longest)

    # ------------------------------------------------------------------ ledger
    def _ledger_enrol(self, connected: list[int]) -> None:
        assert self.ledger is not None and self._base is not None
        known = [n for n in connected if n in self.book.clients]
        if not self.ledger.started:
            self.ledger.start([client_name(n) for n in known], self._base, self.clock_s)
        for node in known:
            self.ledger.enrol(client_name(node), self.clock_s)

    def _ledger_round(
        self, server_round: int, valid: list[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        assert self.ledger is not None
        updates, by_name = [], {}
        for msg in valid:
            flat, _ = flatten(msg.content.array_records[self.arrayrecord_key])
            name = client_name(msg.metadata.src_node_id)
            samples = self._metric(msg, "num-examples") or 0.0
            reported = {k: float(v) for r in msg.content.metric_records.values() for k, v in r.items() if isinstance(v, int | float)}  # fmt: skip
            updates.append(ClientUpdate(name, flat, int(samples), reported))
            by_name[name] = msg
        verdict = self.ledger.verify_round(server_round, updates, self.clock_s)
        for name in verdict.accepted:
            self._record(by_name[name], accepted=True)
        for name, why in verdict.rejected:
            if name in by_name:
                log(INFO, "aggregate_train: the verifiers rejected %s (%s)", name, why)
                self._record(by_name[name], accepted=False, reason=why)
        accepted = [by_name[name] for name in verdict.accepted]
        _, metrics = self.inner.aggregate_train(server_round, accepted)
        if verdict.global_params is None:
            return None, metrics
        return unflatten(verdict.global_params, self._layout), metrics
