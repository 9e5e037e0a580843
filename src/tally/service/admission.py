"""Admission: which query runs next on the engine's few slots, and which is refused at once.

A plain count of running queries lets one tenant's flood of heavy queries fill every slot and
the line behind them, so another tenant's light query waits out its timeout. Here each query is
admitted by its estimated cost: what queries of its shape (its SQL text, the same for every
tenant) took lately, an exponentially weighted mean; a shape not seen yet is estimated by the
mean of every query, but taken for a light one until its first run says otherwise. The waiting
queries of each tenant form a queue of their own, and a free slot goes to the tenant that has
received the least work so far, in estimated seconds (start-time fair queueing over a virtual
clock): a tenant that asks for heavy queries falls behind one that asks for light ones. No
tenant runs more than its share of slots at once, and heavy queries (estimated above
`heavy_query_s`) hold all slots but one together: however many tenants flood, a light query
waits for a light one at most, never for a heavy one to finish.

A query that cannot start within the deadline is refused before it waits: its estimated wait
is the work ahead of it (what is left of the running queries, its tenant's queue, and from
every other tenant as much as fair queueing lets pass first) spread over the slots. The answer
is a 429 when its own tenant's backlog alone is too long (that tenant should slow down), else a
503 (the service is overloaded), both with Retry-After. An estimate can be wrong: a query still
waiting at its deadline leaves the line with the same 503.

A job (`Prefer: respond-async`) is admitted the same way, through its tenant's queue and the
heavy lane, so a flood of jobs leaves the light slot and the other tenants' turns alone; but its
deadline is its own (the job timeout: it was asked to wait rather than be refused), and the
lengths of the lines do not refuse it, as the number of a tenant's jobs has its own cap (jobs.py).
Waiting jobs still count in the line an inline query sees, in its tenant's backlog and in the
estimated wait of its lane.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tally.auth.principal import Principal
from tally.config import Settings
from tally.engines.cancel import Cancel
from tally.errors import TallyError, unavailable

UNSCOPED = "unscoped"
PRIOR_S = 0.1  # the estimate of the very first query, before anything was observed
SHAPE_WEIGHT = 0.3  # the weight of the latest run in a shape's mean
OVERALL_WEIGHT = 0.1  # and in the mean of every query, which estimates unseen shapes
MAX_SHAPES = 10_000
LEFT_FLOOR = 0.1  # a query past its estimate still holds its slot: count a tenth of it


@dataclass(frozen=True)
class Capacity:
    slots: int
    tenant_slots: int
    tenant_queued: int
    queued: int
    deadline_s: float
    heavy_s: float = 0.5

    @property
    def heavy_slots(self) -> int:
        """Slots heavy queries may hold together: all but one, kept for the light ones."""
        return max(1, self.slots - 1)

    @classmethod
    def of(cls, settings: Settings) -> Capacity:
        return cls(
            settings.query_slots,
            settings.tenant_query_slots,
            settings.tenant_queued_queries,
            settings.max_queued_queries,
            settings.queue_timeout_s,
            settings.heavy_query_s,
        )


class Costs:
    """Seconds a slot is held by a query of each shape, learnt from runs. A shape not seen yet
    is estimated by the mean of every query, but never above `unseen_at_most`: it is taken for
    a light query once, and its first run shows what it costs."""

    def __init__(self, unseen_at_most: float = math.inf) -> None:
        self._shapes: dict[str, float] = {}
        self._overall = PRIOR_S
        self._unseen_at_most = unseen_at_most

    def estimate(self, shape: str) -> float:
        return self._shapes.get(shape, min(self._overall, self._unseen_at_most))

    def observe(self, shape: str, seconds: float) -> None:
        known = self._shapes.get(shape)
        if known is None and len(self._shapes) >= MAX_SHAPES:
            self._shapes.clear()
        self._shapes[shape] = seconds if known is None else known + SHAPE_WEIGHT * (seconds - known)
        self._overall += OVERALL_WEIGHT * (seconds - self._overall)


@dataclass(eq=False)
class Ticket:
    tenant: str
    shape: str
    cost: float
    heavy: bool
    deadline_s: float
    job: bool = False
    ready: threading.Event = field(default_factory=threading.Event)
    started: float | None = None


@dataclass(eq=False)
class _Tenant:
    queue: deque[Ticket] = field(default_factory=deque)
    running: list[Ticket] = field(default_factory=list)
    virtual: float = 0.0

    def inline_queued(self) -> int:
        """Waiting queries the caps on the lines count: not the jobs (jobs.py caps those)."""
        return sum(1 for t in self.queue if not t.job)

    def queued_cost(self, heavy: bool | None = None) -> float:
        """Estimated seconds of the waiting queries (of one lane, or all)."""
        return sum(t.cost for t in self.queue if heavy is None or t.heavy == heavy)


class Admission:
    def __init__(self, capacity: Capacity, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.costs = Costs(unseen_at_most=capacity.heavy_s / 2)
        self.on_refusal: list[Callable[[str], None]] = []
        self._clock = clock
        self._lock = threading.Lock()
        self._tenants: dict[str, _Tenant] = {}
        self._busy = 0
        self._heavy = 0
        self._queued = 0
        self._virtual = 0.0
        self._holding = threading.local()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> int:
        return self._busy

    @contextmanager
    def admit(
        self,
        tenant: str,
        shape: str,
        job_deadline_s: float | None = None,
        cancel: Cancel | None = None,
    ) -> Iterator[None]:
        """Hold a slot for `tenant`'s query of `shape` while the block runs. A thread that holds
        one already (the watermark asked while answering) runs within it. A job's query gives
        its own deadline, `job_deadline_s`, and is not refused for the length of the line; as
        it may wait long, its `cancel` takes it out of the line at once."""
        if getattr(self._holding, "ticket", None) is not None:
            yield
            return
        if cancel is not None:
            cancel.check()
        ticket = self._wait(self._enter(tenant, shape, job_deadline_s), cancel)
        self._holding.ticket = ticket
        try:
            yield
        finally:
            self._holding.ticket = None
            self._leave(ticket)

    def _enter(self, tenant: str, shape: str, job_deadline_s: float | None) -> Ticket:
        with self._lock:
            state = self._tenants.setdefault(tenant, _Tenant())
            cost = self.costs.estimate(shape)
            heavy = cost >= self.capacity.heavy_s
            if job_deadline_s is None:
                ticket = Ticket(tenant, shape, cost, heavy, self.capacity.deadline_s)
            else:
                ticket = Ticket(tenant, shape, cost, heavy, job_deadline_s, job=True)
            refusal = self._refusal(state, ticket)
            if refusal is not None:
                self._forget_idle(tenant)
                raise refusal
            if not state.queue and not state.running:
                state.virtual = max(state.virtual, self._virtual)
            state.queue.append(ticket)
            self._queued += 1
            self._dispatch()
            return ticket

    def _wait(self, ticket: Ticket, cancel: Cancel | None) -> Ticket:
        """The ticket once started; out of the line at its deadline (503), or when canceled."""
        if cancel is None:
            ticket.ready.wait(ticket.deadline_s)
        else:
            try:
                with cancel.bind(ticket.ready.set):
                    ticket.ready.wait(ticket.deadline_s)
            except TallyError:  # canceled between entering the line and this wait
                pass
        with self._lock:
            if ticket.started is not None:
                return ticket
            self._tenants[ticket.tenant].queue.remove(ticket)
            self._queued -= 1
            self._forget_idle(ticket.tenant)
            wait = self._drain()
        if cancel is not None:
            cancel.check()
        self._refused("deadline")
        raise unavailable(
            f"the query could not start within {ticket.deadline_s:g} s; "
            "the service is busy, try again shortly",
            retry_after=_seconds(wait),
        )

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:
            assert ticket.started is not None
            self.costs.observe(ticket.shape, self._clock() - ticket.started)
            self._tenants[ticket.tenant].running.remove(ticket)
            self._busy -= 1
            self._heavy -= ticket.heavy
            self._forget_idle(ticket.tenant)
            self._dispatch()

    def _refusal(self, state: _Tenant, ticket: Ticket) -> TallyError | None:
        """Why `ticket` may not join the line, or None. Holds the lock."""
        capacity = self.capacity
        if not ticket.job and state.inline_queued() >= capacity.tenant_queued:
            why = f"{capacity.tenant_queued} queries of this tenant wait"
            return self._refuse_tenant(why, self._own_wait(state))
        inline_queued = sum(t.inline_queued() for t in self._tenants.values())
        if not ticket.job and inline_queued >= capacity.queued:
            return self._refuse_all(f"{capacity.queued} queries wait", self._drain())
        if not state.queue and self._may_start(state, ticket):
            return None
        own = self._own_wait(state)
        if own > ticket.deadline_s:
            return self._refuse_tenant(f"this tenant's queries ahead take about {own:.1f} s", own)
        wait = self._estimated_wait(state, ticket)
        if wait > ticket.deadline_s:
            return self._refuse_all(f"the queries ahead take about {wait:.1f} s", wait)
        return None

    def _may_start(self, state: _Tenant, ticket: Ticket) -> bool:
        """Whether a slot is free for `ticket`: one of all, one of its tenant's share, and one of
        the heavy lane for a heavy query. Holds the lock."""
        capacity = self.capacity
        return (
            self._busy < capacity.slots
            and len(state.running) < capacity.tenant_slots
            and (not ticket.heavy or self._heavy < capacity.heavy_slots)
        )

    def _refuse_tenant(self, why: str, wait: float) -> TallyError:
        self._refused("tenant")
        return TallyError(
            "too_many_queries",
            f"{why}; this tenant sends more queries than it may run: slow down",
            429,
            retry_after=_seconds(wait),
        )

    def _refuse_all(self, why: str, wait: float) -> TallyError:
        self._refused("overloaded")
        return unavailable(f"{why}; the service is overloaded, try again shortly", _seconds(wait))

    def _refused(self, reason: str) -> None:
        for observe in self.on_refusal:
            observe(reason)

    def _left(self, tickets: list[Ticket]) -> float:
        """Estimated seconds the running `tickets` still hold their slots."""
        now = self._clock()
        return sum(max(t.cost - (now - (t.started or now)), t.cost * LEFT_FLOOR) for t in tickets)

    def _own_wait(self, state: _Tenant) -> float:
        """Seconds before another query of this tenant may start, counting only its tenant's
        work, which runs on at most the tenant's share of slots."""
        return (self._left(state.running) + state.queued_cost()) / self.capacity.tenant_slots

    def _estimated_wait(self, state: _Tenant, ticket: Ticket) -> float:
        """Seconds before `ticket` may start: what is left of the running queries of its lane,
        its tenant's queue and, from each other tenant, as much of its lane as fair queueing
        serves before it, spread over the lane's slots. A light query waits on light ones
        only: the heavy ones cannot take the slot kept for it."""
        heavy = ticket.heavy
        ahead = state.queued_cost()
        others = sum(
            min(t.queued_cost(heavy), ahead + ticket.cost)
            for t in self._tenants.values()
            if t is not state
        )
        running = sum(
            self._left([r for r in t.running if r.heavy == heavy]) for t in self._tenants.values()
        )
        slots = self.capacity.heavy_slots if heavy else max(1, self.capacity.slots - self._heavy)
        return max((running + ahead + others) / slots, self._own_wait(state))

    def _drain(self) -> float:
        """Seconds until every running and waiting query is done."""
        work = sum(self._left(t.running) + t.queued_cost() for t in self._tenants.values())
        return work / self.capacity.slots

    def _dispatch(self) -> None:
        """Start waiting queries while slots are free: the first query of the tenant that has
        received the least work, among those a slot is free for. Holds the lock."""
        while self._busy < self.capacity.slots:
            tenants = self._tenants.values()
            ready = [t for t in tenants if t.queue and self._may_start(t, t.queue[0])]
            if not ready:
                return
            chosen = min(ready, key=lambda t: t.virtual)
            ticket = chosen.queue.popleft()
            self._virtual = max(self._virtual, chosen.virtual)
            chosen.virtual += ticket.cost
            chosen.running.append(ticket)
            self._queued -= 1
            self._busy += 1
            self._heavy += ticket.heavy
            ticket.started = self._clock()
            ticket.ready.set()

    def _forget_idle(self, tenant: str) -> None:
        """A tenant with nothing queued or running starts again from the virtual clock when it
        comes back; its state is not kept. Holds the lock."""
        state = self._tenants.get(tenant)
        if state is not None and not state.queue and not state.running:
            del self._tenants[tenant]


def _seconds(wait: float) -> int:
    """Retry-After: whole seconds, at least one."""
    return max(1, math.ceil(wait))


def tenant_of(principal: Principal) -> str:
    """The fairness class of a principal: its primary tenant scope (the first column it is
    scoped on and its values), or one class for every unscoped or all-tenant caller."""
    if principal.all_tenants or not principal.scopes:
        return UNSCOPED
    column, values = next(iter(principal.scopes.items()))
    return f"{column}={','.join(values)}"
