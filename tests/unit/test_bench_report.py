"""`python -m bench`: the tables it writes hold the figures' ratios, and it rewrites only its own
section of bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path

from bench.report import RUN_END, RUN_START, markdown, write_results
from bench.run import Figures, PairedTimes


def test_a_run_replaces_the_previous_one_and_keeps_the_analysis(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Results\n\nintro\n\n{RUN_START}\nold table\n{RUN_END}\n\nanalysis\n")
    write_results(results, "new table\n")
    assert results.read_text() == (
        f"# Results\n\nintro\n\n{RUN_START}\nnew table\n{RUN_END}\n\nanalysis\n"
    )


def test_a_file_without_markers_gets_the_run_appended(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n")
    write_results(results, "table\n")
    assert results.read_text() == f"# Results\n\n{RUN_START}\ntable\n{RUN_END}\n"
    missing = tmp_path / "missing.md"
    write_results(missing, "table\n")
    assert missing.read_text() == f"{RUN_START}\ntable\n{RUN_END}\n"


def test_the_table_holds_the_ratios_and_geometric_means_of_the_figures() -> None:
    figures = Figures(
        machine={"date": "d", "cpu": "c", "cores": 2, "memory": "m", "python": "p", "duckdb": "x"},
        ingest={"cli_parquet_rows_per_s": 1.0, "compact_seconds": 1.0},
    )
    timings = {
        "Q1/tenant": (2.0, 2.5, 3.0, 7.0, 300.0, 0.4, 3.5),
        "Q2/tenant": (10.0, 11.0, 9.0, 16.0, 80.0, 1.2, 6.5),
    }
    for key, (a, b, a2, c, d, added_b, added_c) in timings.items():
        figures.queries[key] = {
            "title": "t", "rows": 1, "a_raw_duckdb_ms": a, "b_tally_inprocess_ms": b,
            "a_raw_beside_http_ms": a2, "c_tally_http_ms": c, "d_postgres_ms": d,
            "b_added_ms": added_b, "c_added_ms": added_c,
        }  # fmt: skip
    text = markdown(figures, 10)
    assert (
        "| Q1 t | tenant | 1 | 2.00 | 2.50 | 3.00 | 7.00 | 300.00 | 1.25 | 2.33 | 150.00 | "
        "42.86 | 0.40 | 3.50 |" in text
    )
    # b/a: sqrt(1.25 * 1.1); c/a′: sqrt(7/3 * 16/9); d/c: sqrt(300/7 * 80/16); c − a′: 3.5, 6.5
    assert (
        "Geometric means (tenant): b/a 1.17, c/a′ 2.04, d/c 14.64; largest b − a 1.20 ms; "
        "median c − a′ 5.00 ms." in text
    )


def test_the_added_time_is_the_median_of_the_differences_within_rounds() -> None:
    # Round 3 was a slow spell for both; within each round the second took 1 to 3 ms longer.
    timed = PairedTimes([[10.0, 20.0, 100.0, 30.0, 40.0], [11.0, 23.0, 102.0, 31.0, 42.0]])
    assert timed.medians == [30.0, 31.0]
    assert timed.added_ms(1) == 2.0
    assert timed.added_ms(0, base=1) == -2.0
