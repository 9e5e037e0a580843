"""Exact decimal values from JSON: what a decimal column (money) accepts, ingested or filtered.

A value is a JSON number or a numeric string (`"12.30"`). JSON parsers read numbers as IEEE
doubles, so a number is taken at its shortest round-trip spelling (`repr`): 0.1 stays 0.1, not
0.1000000000000000055511151231257827. That spelling equals what was sent whenever the number has
at most 15 significant digits (a double tells every 15-digit decimal apart), so longer numbers
are refused and must be sent as strings, which are read digit for digit. Nothing is rounded: a
value with more digits after the point than the column's scale is refused, as are values too
large for the column, NaN, infinities, exponents in strings and booleans.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from tally.catalog.model import DECIMAL_PRECISION

FLOAT_DIGITS = 15
NUMERIC_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _from_json(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number or a numeric string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        exact = Decimal(repr(value))
        if len(exact.normalize().as_tuple().digits) > FLOAT_DIGITS:
            raise ValueError(
                f"a JSON number is exact up to {FLOAT_DIGITS} significant digits; "
                'send a longer one as a string ("12.34")'
            )
        return exact
    if isinstance(value, str):
        if NUMERIC_TEXT.fullmatch(value) is None:
            raise ValueError('expected a number or a numeric string like "12.30"')
        return Decimal(value)
    raise ValueError("expected a number or a numeric string")


def exact_decimal(value: object, scale: int) -> Decimal:
    """The value as a Decimal with exactly `scale` digits after the point, or ValueError with a
    reason safe to show. Trailing zeros beyond the scale lose nothing and are accepted."""
    found = _from_json(value)
    step = Decimal(1).scaleb(-scale)
    scaled = found.quantize(step) if found.adjusted() < DECIMAL_PRECISION else found
    if scaled != found:
        raise ValueError(f"more than {scale} digits after the point")
    if len(scaled.as_tuple().digits) > DECIMAL_PRECISION or scaled.adjusted() >= (
        DECIMAL_PRECISION - scale
    ):
        raise ValueError(f"too large: at most {DECIMAL_PRECISION - scale} digits before the point")
    return scaled
