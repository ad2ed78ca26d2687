"""The state table's lookups that need no table: the key index of a large sorted file and the
grouping of a position-delete file by the data file it names."""

import pyarrow as pa

from chinook_consumer.tables.live_rows import _grouped, _KeyIndex


def test_a_sorted_file_is_found_in_by_bisection_with_every_row_of_a_key() -> None:
    index = _KeyIndex(pa.array([2, 4, 4, 9], pa.int64()))
    assert len(index) == 4
    assert index.positions([1, 4, 9, 10]) == ([4, 4, 9], [1, 2, 3])
    assert index.positions([3, 5]) == ([], [])


def test_positions_count_from_the_start_of_a_sliced_column() -> None:
    index = _KeyIndex(pa.array([0, 5, 6, 7], pa.int64()).slice(1))
    assert index.positions([6, 7]) == ([6, 7], [1, 2])


def test_an_unsorted_file_has_no_index_and_is_read_instead() -> None:
    index = _KeyIndex(pa.array([3, 1, 2], pa.int64()))
    assert index.keys is None and len(index) == 1


def test_a_delete_file_is_grouped_by_the_data_file_it_names() -> None:
    rows = pa.table({"file_path": ["a", "b", "a"], "pos": [3, 1, 5], "extra": [0, 0, 0]})
    grouped = {path: positions.to_pylist() for path, positions in _grouped(rows).items()}
    assert grouped == {"a": [3, 5], "b": [1]}
