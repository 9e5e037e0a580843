"""The watchdog behind the engines' client-side deadlines, on real sockets: a read that would wait
forever ends at the deadline, and a call that finished in time is never cut afterwards (its
connection may already serve someone else)."""

from __future__ import annotations

import socket
import time

from tally.engines.deadline import WATCHDOG


def test_a_blocked_read_ends_at_the_deadline() -> None:
    ours, silent = socket.socketpair()
    with ours, silent:
        started = time.monotonic()
        with WATCHDOG.guard(ours.fileno(), started + 0.3) as guard:
            assert ours.recv(1) == b"", "the shut-down socket reads as closed"
        took = time.monotonic() - started
        assert guard.fired
        assert 0.25 <= took < 1.0, took


def test_a_call_done_in_time_is_never_cut() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        with WATCHDOG.guard(ours.fileno(), time.monotonic() + 0.1) as guard:
            peer.sendall(b"x")
            assert ours.recv(1) == b"x"
        time.sleep(0.3)
        assert not guard.fired
        peer.sendall(b"y")
        assert ours.recv(1) == b"y", "the socket still works after the deadline passed"


def test_guards_fire_in_deadline_order_whatever_the_order_armed() -> None:
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        now = time.monotonic()
        with (
            WATCHDOG.guard(pairs[0][0].fileno(), now + 0.6) as late,
            WATCHDOG.guard(pairs[1][0].fileno(), now + 0.2) as early,
        ):
            assert pairs[1][0].recv(1) == b""
            assert early.fired and not late.fired
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()
