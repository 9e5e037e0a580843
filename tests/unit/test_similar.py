"""SQL SIMILAR TO patterns as regular expressions, checked with Python's `re` against what
PostgreSQL's SIMILAR TO answers for the same pattern and text (written out here)."""

from __future__ import annotations

import re

import pytest

from tally.profiles.records_statistics.similar import similar_to_regex
from tally.query.patterns import check_regex

CASES = [
    ("[]%]", "%", True), ("[]%]", "]", True), ("[]%]", "x", False),
    ("[^]a]b", "xb", True), ("[^]a]b", "]b", False),
    ("Acme%", "Acme Ltd", True), ("Acme%", "the Acme", False),
    ("a_c", "abc", True), ("a_c", "a\nc", True), ("a.c", "abc", False), ("a.c", "a.c", True),
    ("(ab|cd)+", "abcdab", True), ("(ab|cd)+", "abx", False),
    ("50\\%", "50%", True), ("50\\%", "500", False), ("^x$", "^x$", True),
]  # fmt: skip


@pytest.mark.parametrize("pattern,text,matches", CASES)
def test_a_similar_pattern_matches_the_whole_text_as_postgresql_does(
    pattern: str, text: str, matches: bool
) -> None:
    spelled = check_regex(similar_to_regex(pattern))
    assert bool(re.search(spelled, text, re.DOTALL)) is matches
