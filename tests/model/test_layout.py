"""The 978-d layout: ten categories in the host's order and size, every dimension described once."""

from model.layout import CATEGORIES, CATEGORY_SIZES, FEATURE_DIM, LAYOUT, layout_markdown, span

HOST_LAYOUT = [
    ("identity", 50), ("structural", 100), ("complexity", 100), ("dependency", 150), ("context", 100),
    ("semantic", 200), ("quality", 100), ("temporal", 50), ("statistical", 124), ("language", 4),
]


def test_categories_follow_the_hosts_order_and_sizes():
    assert list(CATEGORY_SIZES) == HOST_LAYOUT
    assert sum(size for _, size in CATEGORY_SIZES) == FEATURE_DIM == 978


def test_category_bounds_are_contiguous_half_open_ranges():
    start = 0
    for (name, size), (bound_name, lo, hi) in zip(CATEGORY_SIZES, CATEGORIES, strict=True):
        assert (bound_name, lo, hi) == (name, start, start + size)
        start = hi


def test_named_ranges_tile_the_vector_exactly_once_and_stay_inside_their_category():
    covered = []
    bounds = {name: (lo, hi) for name, lo, hi in CATEGORIES}
    for r in LAYOUT:
        lo, hi = bounds[r.category]
        assert lo <= r.start < r.end <= hi, r
        assert r.description.strip(), f"{r.name} has no description"
        covered.extend(range(r.start, r.end))
    assert covered == list(range(FEATURE_DIM))


def test_every_range_is_reachable_by_name_and_listed_in_the_markdown_table():
    table = layout_markdown()
    for r in LAYOUT:
        assert span(r.name) is r
        assert f"| {r.start}-{r.end - 1} | {r.category} | {r.name} |" in table


def test_the_documented_table_matches_the_code():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text(encoding="utf-8")
    assert layout_markdown() in docs
