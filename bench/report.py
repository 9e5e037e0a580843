"""Machine facts and the Markdown table of one run, with the ratios the issue asks for."""

from __future__ import annotations

import math
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench.run import Figures


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def _ratio(top: float | None, bottom: float | None) -> str:
    if not top or not bottom:
        return "–"
    return f"{top / bottom:.2f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; Python {m['python']}, "
        f"DuckDB {m['duckdb']}. Medians of warm repeated runs, milliseconds"
    )


def markdown(figures: Figures, rows: int) -> str:
    m = figures.machine
    out = [
        f"## Run of {m['date']} — {rows:,} rows",
        "",
        f"{_machine_line(m)}; b−a and c−a′ are "
        "the medians of the differences within each round of turns (a and b, a′ and c ran back "
        "to back).",
        "",
        "| query | scope | rows | (a) raw DuckDB | (b) Tally in-process | (a′) raw, beside (c) | "
        "(c) Tally HTTP | (d) PostgreSQL | b/a | c/a′ | d/a | d/c | b−a ms | c−a′ ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, q in figures.queries.items():
        if "/" not in key:
            continue
        name, scope = key.split("/")
        a, b, a2, c, d = (q.get(k) for k in ("a_raw_duckdb_ms", "b_tally_inprocess_ms",
                                             "a_raw_beside_http_ms", "c_tally_http_ms",
                                             "d_postgres_ms"))  # fmt: skip
        added_b = _ms(q.get("b_added_ms"))
        added_c = _ms(q.get("c_added_ms"))
        out.append(
            f"| {name} {q['title']} | {scope} | {q.get('rows', '')} | {_ms(a)} | {_ms(b)} | "
            f"{_ms(a2)} | {_ms(c)} | {_ms(d)} | {_ratio(b, a)} | {_ratio(c, a2)} | "
            f"{_ratio(d, a)} | {_ratio(d, c)} | {added_b} | {added_c} |"
        )
    out.append("")
    for scope in ("tenant", "all"):
        picked = [q for k, q in figures.queries.items() if k.endswith("/" + scope)]

        def ratios(top: str, bottom: str, picked: list = picked) -> list[float]:
            return [q[top] / q[bottom] for q in picked if q.get(top) and q.get(bottom)]

        b_a = geomean(ratios("b_tally_inprocess_ms", "a_raw_duckdb_ms"))
        c_a = geomean(ratios("c_tally_http_ms", "a_raw_beside_http_ms"))
        d_c = geomean(ratios("d_postgres_ms", "c_tally_http_ms"))
        added_b = [q["b_added_ms"] for q in picked if q.get("b_added_ms") is not None]
        added_c = [q["c_added_ms"] for q in picked if q.get("c_added_ms") is not None]
        out.append(
            f"Geometric means ({scope}): b/a {_ms(b_a)}, c/a′ {_ms(c_a)}, d/c {_ms(d_c)}; "
            f"largest b − a {_ms(max(added_b) if added_b else None)} ms; "
            f"median c − a′ {_ms(statistics.median(added_c) if added_c else None)} ms."
        )
    out += _in_place(figures)
    select1 = figures.queries.get("SELECT 1", {}).get("a_raw_duckdb_ms")
    out += ["", f"DuckDB `SELECT 1` round trip: {_ms(select1)} ms.", ""]
    ingest = figures.ingest
    out.append("| ingestion | figure |")
    out.append("|---|---:|")
    if "http_ndjson_rows_per_s" in ingest:
        described = (
            "HTTP NDJSON, 10k-row batches, validated, idempotent, after a warm-up batch "
            f"({ingest['http_ndjson_rows']:,} rows)"
        )
        out.append(f"| {described}, one client | {ingest['http_ndjson_rows_per_s']:,.0f} rows/s |")
        two = ingest["http_ndjson_2_clients_rows_per_s"]
        out.append(f"| {described}, two clients at once | {two:,.0f} rows/s |")
    out.append(
        f"| CLI from Parquet (`tally ingest`) | {ingest['cli_parquet_rows_per_s']:,.0f} rows/s |"
    )
    out.append(f"| compaction into (tenant, time) order | {ingest['compact_seconds']:.1f} s |")
    if "postgres_copy_and_index_seconds" in ingest:
        load = ingest["postgres_copy_and_index_seconds"]
        out.append(f"| PostgreSQL COPY + indexes (baseline load) | {load:.1f} s |")
    out += [
        "",
        "| cache hits, 32 clients, `POST /v1/query` | req/s | p50 ms | p99 ms | non-2xx | client |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, c in figures.cache.items():
        figures_text = f"{c['rps']:,.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['errors']}"
        out.append(f"| {name} cache | {figures_text} | {c['tool']} |")
    if figures.notes:
        out += ["", "Notes:"] + [f"- {n}" for n in figures.notes]
    return "\n".join(out) + "\n"


def _in_place(figures: Figures) -> list[str]:
    """(e) Parquet folder and (f) PostgreSQL table read in place, each beside its raw SQL."""
    keys = ("e_raw_parquet_ms", "e_tally_parquet_ms", "f_raw_postgres_ms", "f_tally_postgres_ms")
    picked = {k: q for k, q in figures.queries.items() if "/" in k and q.get(keys[0])}
    if not picked:
        return []
    out = [
        "",
        "Read in place (external datasets, cache off, in-process), each beside the raw SQL on "
        "the same source, timed in turns:",
        "",
        "| query | scope | (e′) raw Parquet | (e) Tally Parquet | (f′) raw PostgreSQL | "
        "(f) Tally PostgreSQL | e/e′ | f/f′ | e−e′ ms | f−f′ ms | b/a (owned) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, q in picked.items():
        name, scope = key.split("/")
        e2, e, f2, f = (q.get(k) for k in keys)
        out.append(
            f"| {name} | {scope} | {_ms(e2)} | {_ms(e)} | {_ms(f2)} | {_ms(f)} | "
            f"{_ratio(e, e2)} | {_ratio(f, f2)} | {_ms(q.get('e_added_ms'))} | "
            f"{_ms(q.get('f_added_ms'))} | "
            f"{_ratio(q.get('b_tally_inprocess_ms'), q.get('a_raw_duckdb_ms'))} |"
        )
    for scope in ("tenant", "all"):
        rows = [q for k, q in picked.items() if k.endswith("/" + scope)]
        means = [
            geomean([q[top] / q[bottom] for q in rows if q.get(top) and q.get(bottom)])
            for top, bottom in (
                ("e_tally_parquet_ms", "e_raw_parquet_ms"),
                ("f_tally_postgres_ms", "f_raw_postgres_ms"),
                ("b_tally_inprocess_ms", "a_raw_duckdb_ms"),
            )
        ]
        out.append(
            f"Geometric means ({scope}): e/e′ {_ms(means[0])}, f/f′ {_ms(means[1])}, "
            f"b/a (owned DuckDB) {_ms(means[2])}."
        )
    return out


def in_place_markdown(figures: Figures, rows: int) -> str:
    """A run of `--in-place`: the owned table's (a) and (b) and both sources read in place."""
    m = figures.machine
    lines = [
        f"## In place, run of {m['date']} — {rows:,} rows",
        "",
        f"{_machine_line(m)}.",
        *_in_place(figures),
    ]
    return "\n".join(lines) + "\n"


RUN_START = "<!-- bench:run -->"
RUN_END = "<!-- /bench:run -->"
IN_PLACE_MARKERS = ("<!-- bench:in-place -->", "<!-- /bench:in-place -->")


def write_results(
    path: Path, run_text: str, markers: tuple[str, str] = (RUN_START, RUN_END)
) -> None:
    """Put a run's tables between its markers in RESULTS.md, keeping the written analysis
    around them; a file without those markers gets the run appended between new ones."""
    opening, closing = markers
    block = f"{opening}\n{run_text}{closing}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = text.find(opening), text.find(closing)
    if 0 <= start < end:
        text = text[:start] + block + text[end + len(closing) :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")
