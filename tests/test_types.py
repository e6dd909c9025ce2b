"""Filters are normalised by one rule, for the CLI and the API alike."""

from __future__ import annotations

import pytest

from qa.types import FilterError, Filters


def test_filters_are_normalized() -> None:
    given = Filters(source="  ", published_from="2025-03-05T10:00:00Z", published_to="2025-03-07", as_of="2025-03-08")
    assert given.normalized() == Filters(published_from="2025-03-05", published_to="2025-03-07", as_of="2025-03-08")


@pytest.mark.parametrize(("filters", "message"), [
    (Filters(published_from="last tuesday"), "published_from must be an ISO date"),
    (Filters(as_of="soon"), "as_of must be an ISO date"),
    (Filters(published_from="2025-03-07", published_to="2025-03-05"), "swap them"),
])
def test_bad_filters_say_which_field(filters: Filters, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        filters.normalized()
