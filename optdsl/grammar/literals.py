"""Whole numbers written in ``.opt`` text (sizes, indices, slice bounds), read without Python's digit limit.

``int()`` of a string of more than 4300 digits raises a bare ``ValueError``; a number that long
is never a size or an index, so it is rejected by its count of digits before conversion.
"""

from __future__ import annotations

from optdsl.grammar.errors import Location, OptLimitError, OptSyntaxError

MAX_INDEX = 2**63 - 1  # indices and slice bounds are 64-bit integers


def whole_number(text: str, what: str, largest: int, location: Location) -> int:
    """``text`` (digits, with an optional sign) as an int of magnitude at most ``largest``.

    ``OptSyntaxError`` unless it is written as a whole number, ``OptLimitError`` if it is too large.
    """
    digits = text.lstrip("+-")
    if not digits.isdigit():
        raise OptSyntaxError(f"{what} must be a whole number, got {text}", location)
    significant = digits.lstrip("0")
    if len(significant) > len(str(largest)) or abs(int(text)) > largest:
        shown = text if len(significant) <= 40 else f"a number of {len(significant)} digits"
        limit = f"at least -{largest}" if text.startswith("-") else f"at most {largest}"
        raise OptLimitError(f"{what} must be {limit}, got {shown}", location)
    return int(text)
