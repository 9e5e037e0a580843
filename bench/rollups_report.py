"""The markdown of one `python -m bench.rollups` run, ready to paste into bench/RESULTS.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.rollups import Figures

TARGET_MS = 20.0


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _queries(figures: Figures) -> list[str]:
    out = [
        "| query | scope | served from | raw p50 ms | rollup p50 ms | raw / rollup | same rows |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for q in figures.queries:
        same = "approx" if q["query"].endswith("approx") else ("yes" if q["same"] else "**NO**")
        ratio = q["raw_ms"] / q["rollup_ms"]
        out.append(
            f"| {q['query']} {q['title']} | {q['scope']} | {q['served_from']} | "
            f"{q['raw_ms']:.1f} | {q['rollup_ms']:.1f} | {ratio:.1f} | {same} |"
        )
    served = [q for q in figures.queries if q["served_from"] != "raw"]
    met = [q for q in served if q["rollup_ms"] <= TARGET_MS]
    unserved = sorted({q["query"] for q in figures.queries if q["served_from"] == "raw"})
    out.append("")
    out.append(
        f"Served from a rollup: {len(served)} of {len(figures.queries)}; of those, "
        f"{len(met)} with p50 ≤ {TARGET_MS:.0f} ms. From the rows whatever is declared: "
        f"{', '.join(unserved) or 'none'}."
    )
    return out


def _load(figures: Figures) -> list[str]:
    o, load = figures.options, figures.load
    return [
        f"- generation: {o.rows / load['generate_s']:,.0f} rows/s "
        f"({o.rows:,} rows in {load['generate_s']:.1f} s, chunks of {o.chunk:,})",
        f"- bulk load without rollups (`load_table`, one transaction per chunk of {o.chunk:,}): "
        f"{o.rows / load['load_s']:,.0f} rows/s ({load['load_s']:.1f} s; closing with its "
        f"checkpoint {load['close_s']:.1f} s); database file {_size(load['file_bytes'])}, "
        f"copied for the database without rollups in {load['copy_s']:.1f} s",
        f"- build of every rollup (`Rollups.build`, as `tally rollups build`): "
        f"{load['build_s']:.1f} s; database file grew by {_size(load['file_growth_bytes'])}",
        f"- start of a service over the database with rollups, its id dictionaries loaded in "
        f"memory for appends (in the background of a server): {load.get('warm_s', 0):.1f} s",
    ]


def _builds(figures: Figures) -> list[str]:
    out = [
        "| rollup | grain | dimensions | build s | rows | table alone | id dictionaries alone |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for b in figures.builds:
        dictionaries = _size(b["dictionary_bytes"]) if b["dictionary_bytes"] else "-"
        out.append(
            f"| {b['rollup']} | {b['grain']} | {', '.join(b['dimensions']) or '-'} | "
            f"{b['seconds']:.1f} | {b['rows']:,} | {_size(b['table_bytes'])} | {dictionaries} |"
        )
    out.append("")
    out.append(
        "Sizes: the table (or the id dictionaries it reads) copied alone into a fresh DuckDB "
        "file, checkpointed; that file's size (DuckDB writes 256 KiB blocks: a small table reads "
        "as about 0.5 MiB). A dictionary is the dataset's, one per field, shared by every rollup "
        "keeping a set of that field: it is listed under each and stored once."
    )
    return out


def _ingest(figures: Figures) -> list[str]:
    o = figures.options
    out = [
        f"| appended rows ({o.append_batch:,}-row batches, taking turns) | without rollups "
        "rows/s | with rollups rows/s | share | CPU: without | CPU: with | CPU share | "
        "compactions: of the time with rollups |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i in figures.ingest:
        what = (
            "the window's end, in time order, as dense as the table"
            if i["order"] == "time"
            else "spread over the year, random order"
        )
        out.append(
            f"| {i['rows']:,}, {what} | {i['without_wall']:,.0f} | {i['with_wall']:,.0f} | "
            f"{i['with_wall'] / i['without_wall']:.0%} | {i['without_cpu']:,.0f} | "
            f"{i['with_cpu']:,.0f} | {i['with_cpu'] / i['without_cpu']:.0%} | "
            f"{i['compactions']}, {i['compacting_s']:.2f} s of {i['with_s']:.2f} s |"
        )
    return out


def _pending(figures: Figures) -> list[str]:
    if not figures.pending:
        return []
    appends = figures.pending[0]["appends"]
    with_pending = {(p["query"], p["scope"]): p for p in figures.pending}
    out = [
        f"Queries served from rollups right after the time-ordered appends, {appends} of them "
        "still pending (not merged in; their cells inside every window), against the same "
        "query with every cell merged in (the table above):",
        "",
        "| query | scope | served from | merged p50 ms | with appends pending p50 ms |",
        "|---|---|---|---:|---:|",
    ]
    for q in figures.queries:
        p = with_pending.get((q["query"], q["scope"]))
        if p is not None:
            out.append(
                f"| {q['query']} | {q['scope']} | {p['served_from']} | {q['rollup_ms']:.1f} | "
                f"{p['ms']:.1f} |"
            )
    return out


def render(figures: Figures) -> str:
    o, m = figures.options, figures.machine
    declared = o.declare + (" + kll" if o.kll else "")
    lines = [
        f"## Rollups at {o.rows:,} rows ({m['at']})",
        "",
        f"`python -m bench.rollups --rows {o.rows} --chunk {o.chunk} --declare {o.declare}"
        f"{' --kll' if o.kll else ''}`. Machine: {m['cpus']} cores, {m['memory']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}; load average {m['load']} at the start, "
        f"{m['load_after']} at the end. Rollups declared: {declared}. Queries: medians of "
        f"{o.repeats} rounds (after 2 warm-up rounds), raw (rollups off) and rollup in turns, "
        "result cache off, in-process (`Service.answers`).",
        "",
        *_queries(figures),
        "",
        *_load(figures),
        "",
        *_builds(figures),
        "",
        *_ingest(figures),
        "",
        *_pending(figures),
        "",
    ]
    return "\n".join(lines)
