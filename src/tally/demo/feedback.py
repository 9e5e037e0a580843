"""Demo rows for `feedback` (profile 003): scorer results and human annotations on agent spans.

Rows hang off a smaller set of spans (calls), as in the trace server: one span is scored by
several scorers, scorer results arrive seconds after the span and annotations hours after. Tags
follow the scores that justify them, so tag counts and rating sums tell one story.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.demo._common import (
    US_PER_DAY,
    US_PER_SECOND,
    before_now,
    choose,
    hex_strings,
    join,
    labels,
    lognormal,
    norm,
    pick_within,
    prefixed_ids,
    seasonal_times,
)

Columns = dict[str, pa.Array | np.ndarray]

ENTITY = "acme"
PROJECTS = ("proj_alpha", "proj_beta", "proj_gamma")
PROJECT_SHARE = norm([60, 28, 12])
# (agent name, versions newest first) per project.
SPAN_AGENTS = (
    (("support-agent", ("v2.0.0", "v1.5.0", "v1.4.0")), ("research-agent", ("v1.0.0", "v0.9.1"))),
    (("triage-agent", ("v3.2.0", "v3.1.0")), ("billing-agent", ("v1.0.0",))),
    (("tps-agent", ("v0.2.0", "v0.1.0")),),
)
SPAN_TYPES = ("agent_turn", "agent_conversation")
STATUS_CODES = ("UNSET", "OK", "ERROR")
SCORERS = ("hallucination_scorer", "toxicity", "relevance_scorer", "pii_detector")
FEEDBACK_TYPES = tuple(f"wandb.runnable.{s}" for s in SCORERS) + (
    "wandb.annotation.thumbs",
    "wandb.annotation.note",
)
FEEDBACK_MIX = norm([30, 22, 18, 12, 12, 6])
MONITORS = ("monitor_prod", "monitor_staging")
TAGS = ("hallucination", "toxicity", "off_topic", "pii")
RATING_KEYS = ("_rating_", "relevance", "faithfulness")


def _digest(*parts: str) -> str:
    """A stable short digest for a ref, like the trace server's object versions."""
    return f"{zlib.crc32('/'.join(parts).encode()):08x}"[:6]


def _call_ids(rng: np.random.Generator, call_us: np.ndarray) -> pa.Array:
    """UUIDv7-shaped call ids (32 hex digits, millisecond time first), like the trace server's."""
    ms = (call_us // 1000).astype(np.uint64)
    hi = (ms << np.uint64(16)) | rng.integers(0, 1 << 16, len(ms)).astype(np.uint64)
    lo = rng.integers(0, 2**63, len(ms), dtype=np.int64).astype(np.uint64)
    as_text = [pc.cast(pa.array(hex_strings(v), type=pa.binary()), pa.string()) for v in (hi, lo)]
    return join(*as_text)


def _tags(flags: np.ndarray) -> pa.Array:
    """A list<string> column from a rows x TAGS boolean matrix."""
    rows, cols = np.nonzero(flags)
    offsets = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), labels(TAGS, cols.astype(np.int64)))


def _ratings(keys_per_row: np.ndarray, values: np.ndarray) -> pa.Array:
    """A map<string,float> column: row i carries the first keys_per_row[i] RATING_KEYS (null if 0).

    values is rows x RATING_KEYS.
    """
    offsets = np.concatenate([[0], np.cumsum(keys_per_row)]).astype(np.int32)
    row = np.repeat(np.arange(len(keys_per_row)), keys_per_row)
    pos = np.arange(len(row)) - offsets[row]
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        labels(RATING_KEYS, pos.astype(np.int64)),
        pa.array(values[row, pos], type=pa.float64()),
        mask=pa.array(keys_per_row == 0),
    )


def feedback(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Feedback of three projects: scorer runs, thumbs and notes on agent spans."""
    n_calls = max(1, rows // 2)
    c_project = choose(rng, len(PROJECTS), n_calls, PROJECT_SHARE)
    c_us = seasonal_times(rng, n_calls, now_us)
    c_type = choose(rng, len(SPAN_TYPES), n_calls, norm([80, 20]))
    agents = [a for group in SPAN_AGENTS for a in group]
    c_agent = pick_within(rng, c_project, [len(g) for g in SPAN_AGENTS], 1.5)
    versions = [v for a in agents for v in a[1]]
    c_version = pick_within(rng, c_agent, [len(a[1]) for a in agents], 2.0)
    c_no_agent = rng.random(n_calls) < 0.03
    c_status = choose(rng, len(STATUS_CODES), n_calls, norm([85, 10, 5]))
    c_ref = join(
        f"weave:///{ENTITY}/",
        labels(PROJECTS, c_project),
        "/call/",
        labels(SPAN_TYPES, c_type),
        "/",
        _call_ids(rng, c_us),
    )

    call = rng.integers(0, n_calls, rows)
    ftype = choose(rng, len(FEEDBACK_TYPES), rows, FEEDBACK_MIX)
    runnable = ftype < len(SCORERS)
    delay = np.where(runnable, lognormal(rng, 20, 0.8, rows), lognormal(rng, 3 * 3600, 1.2, rows))
    created = before_now(c_us[call] + (delay * US_PER_SECOND).astype(np.int64), now_us)
    order = np.argsort(created, kind="stable")
    created, call, ftype, runnable = created[order], call[order], ftype[order], runnable[order]
    project = c_project[call]

    # Scores: hallucination and relevance high is good, toxicity high is bad, thumbs are 0 or 1.
    values = np.round(rng.beta(5, 2, (rows, len(RATING_KEYS))), 4)
    values[ftype == 1, 0] = np.round(rng.beta(1, 12, int((ftype == 1).sum())), 4)
    values[ftype == 2, 0] = np.round(values[ftype == 2, 1:].mean(axis=1), 4)
    values[ftype == 4, 0] = (rng.random(int((ftype == 4).sum())) < 0.75).astype(float)
    keys_per_row = np.asarray([1, 1, 3, 0, 1, 0])[ftype]
    u = rng.random((rows, 2))
    flags = np.stack(
        [
            ((ftype == 0) & (values[:, 0] < 0.35)) | ((ftype == 2) & (values[:, 2] < 0.3)),
            (ftype == 1) & (values[:, 0] > 0.3),
            ((ftype == 2) & (values[:, 1] < 0.3)) | ((ftype == 0) & (u[:, 0] < 0.03)),
            ((ftype == 3) & (u[:, 1] < 0.12)) | ((ftype == 1) & (u[:, 1] < 0.02)),
        ],
        axis=1,
    )

    monitor_refs = [
        f"weave:///{ENTITY}/{p}/object/{m}:{_digest(p, m)}" for p in PROJECTS for m in MONITORS
    ]
    monitor = project * len(MONITORS) + (rng.random(rows) < 0.3)
    no_monitor = ~runnable | (rng.random(rows) < 0.15)
    # Each scorer got a new version 90 days ago; older rows point at the previous one.
    scorer_refs = [
        f"weave:///{ENTITY}/{p}/object/{s}:{_digest(p, s, str(v))}"
        for p in PROJECTS
        for s in SCORERS
        for v in (0, 1)
    ]
    version = (created >= now_us - 90 * US_PER_DAY).astype(np.int64)
    scorer = (project * len(SCORERS) + np.minimum(ftype, len(SCORERS) - 1)) * 2 + version
    no_agent = c_no_agent[call]
    return {
        "project_id": labels(PROJECTS, project),
        "id": prefixed_ids("fb_", np.arange(rows)),
        "created_at": created,
        "feedback_type": labels(FEEDBACK_TYPES, ftype),
        "scorer_tags": _tags(flags),
        "ratings": _ratings(keys_per_row, values),
        "trigger_ref": labels(monitor_refs, monitor, no_monitor),
        "runnable_ref": labels(scorer_refs, scorer, ~runnable),
        "weave_ref": pc.take(c_ref, pa.array(call)),
        "span_agent_name": labels([a[0] for a in agents], c_agent[call], no_agent),
        "span_agent_version": labels(versions, c_version[call], no_agent),
        "span_status_code": labels(STATUS_CODES, c_status[call]),
    }
