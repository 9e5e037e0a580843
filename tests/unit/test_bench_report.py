"""`python -m bench` rewrites only its own tables in bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path

from bench.report import RUN_END, RUN_START, write_results


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
