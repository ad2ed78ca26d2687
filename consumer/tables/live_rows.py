"""Where the state table holds given customers: each live row's file, position and sequence.

A flush replaces or deletes a few customers; finding their rows must not read the table. Only
the data files whose manifest bounds of `customer_id` can hold one of the keys are looked at (the
bulk load and compaction write files sorted by key, so their bounds are tight).

A large file sorted by key (as compaction writes them) is found in by a key index: its
`customer_id` column, read once and kept (`_Immutable`: Iceberg never changes a file in place, so
what was read stays true), searched by bisection, 8 bytes a row up to KEY_INDEX_ROWS rows. Random
changes touch every part of a sorted table, so reading the column per flush would cost what the
table does (0.3-0.6 s at 10,000,000 customers); bisecting a kept one costs what the changes do. Its
rows' sequences come from the file's upper bound when every compared sequence is higher (`floor`);
otherwise, and for a large unsorted file, only the `customer_id` and `sequence` columns of the row
groups whose statistics can hold a key are read. Rows a delete file already removed are dropped.

A flush's own data file spans the keys it changed, so its bounds prune nothing; such small files
(and the delete files, grouped by the data file they name) are read whole once, or kept as the
flush that wrote them had them (`remember`), up to CACHE_ROWS rows, least recently used dropped
first. Later flushes look them up in memory instead of reading one file per earlier flush.
Manifests are read from the snapshot directly and their entries kept the same way; pyiceberg's
scan planning would match every delete file to every data file.
"""

import struct
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, DataFileContent, ManifestEntry, ManifestFile
from pyiceberg.table import Table
from pyiceberg.utils.concurrent import ExecutorFactory

KEY: Final = "customer_id"
SEQUENCE: Final = "sequence"
SMALL_FILE_ROWS: Final = 100_000  # a data file this small is read whole and kept
CACHE_ROWS: Final = 4_000_000  # rows kept per cache: about 64 MB of keys and sequences
KEY_INDEX_ROWS: Final = 16_000_000  # keys of large sorted files kept: at most 128 MB
CACHE_ENTRIES: Final = 20_000  # manifest entries kept
LIVE_SCHEMA: Final = pa.schema(
    [
        pa.field(KEY, pa.int64()),
        pa.field(SEQUENCE, pa.int64()),
        pa.field("file_path", pa.string()),
        pa.field("pos", pa.int64()),
    ]
)


def _size(value: object) -> int:
    if isinstance(value, pa.Table):
        return value.num_rows
    if isinstance(value, dict):
        return sum(len(positions) for positions in value.values())
    return len(value)  # type: ignore[arg-type]


class _KeyIndex:
    """The `customer_id` column of a data file, searchable by bisection when sorted (`keys` is
    then a view of its int64 values; None when the file is not sorted by key)."""

    def __init__(self, column: pa.Array) -> None:
        ordered = (
            len(column) < 2
            or pc.all(pc.less_equal(column.slice(0, len(column) - 1), column.slice(1))).as_py()
        )
        values = memoryview(column.buffers()[1]).cast("q")  # type: ignore[arg-type]
        offset = column.offset  # the view keeps the column's buffer alive, nothing else
        self.keys = values[offset : offset + len(column)] if ordered else None

    def __len__(self) -> int:
        return len(self.keys) if self.keys is not None else 1

    def positions(self, sorted_keys: list[int]) -> tuple[list[int], list[int]]:
        """(keys found, their positions) among `sorted_keys`."""
        keys = self.keys
        assert keys is not None
        low, high = keys[0], keys[-1]
        start, stop = bisect_left(sorted_keys, low), bisect_right(sorted_keys, high)
        found, positions = [], []
        position = 0
        for key in sorted_keys[start:stop]:
            position = bisect_left(keys, key, position)
            while position < len(keys) and keys[position] == key:
                found.append(key)
                positions.append(position)
                position += 1
        return found, positions


class _Immutable:
    """What was read from immutable files (tables, manifest entries), by path; past `limit`
    rows or entries in all, the least recently used go."""

    def __init__(self, limit: int) -> None:
        self._tables: OrderedDict[str, Any] = OrderedDict()
        self._rows, self._limit = 0, limit
        self._lock = threading.Lock()

    def get(self, path: str, read: Callable[[], Any]) -> Any:
        with self._lock:
            if path in self._tables:
                self._tables.move_to_end(path)
                return self._tables[path]
        table = read()
        with self._lock:
            self._tables[path] = table
            self._rows += _size(table)
            while self._rows > self._limit and len(self._tables) > 1:
                _, dropped = self._tables.popitem(last=False)
                self._rows -= _size(dropped)
        return table


_SMALL_FILES = _Immutable(CACHE_ROWS)
_DELETE_FILES = _Immutable(CACHE_ROWS)
_KEY_INDEXES = _Immutable(KEY_INDEX_ROWS)
_MANIFESTS = _Immutable(CACHE_ENTRIES)  # manifests are immutable files too


def live_rows(table: Table, keys: pa.Array, floor: int | None = None) -> pa.Table:
    """(customer_id, sequence, file_path, pos) of the live rows of `keys` in the table's current
    snapshot (empty when it has none). With `floor` (the lowest sequence the caller compares
    with), a large file whose `sequence` upper bound is below it is not read for sequences: its
    rows get that bound, which every compared sequence exceeds as their own would."""
    if table.current_snapshot() is None or not len(keys):
        return LIVE_SCHEMA.empty_table()
    wanted = pc.unique(keys)
    ordered = pc.sort_indices(wanted)
    sorted_keys = wanted.take(ordered).to_pylist()
    field_id = table.schema().find_field(KEY).field_id
    data, deletes = live_files(table)
    candidates = [f for f in data if _may_hold(f, field_id, sorted_keys)]
    deleted = deleted_positions(table.io, candidates, deletes)
    small = [f for f in candidates if f.record_count <= SMALL_FILE_ROWS]
    parts = [
        _large_rows(
            table.io, f, wanted, sorted_keys, deleted.get(f.file_path), _bound(table, f, floor)
        )
        for f in candidates
        if f.record_count > SMALL_FILE_ROWS
    ]
    return pa.concat_tables([_small_rows(table.io, small, wanted, deleted), *parts])


def _large_rows(
    io: FileIO,
    data_file: DataFile,
    keys: pa.Array,
    sorted_keys: list[int],
    deleted: pa.Array | None,
    bound: int | None,
) -> pa.Table:
    """The live rows of `keys` in a large file: by its key index when it is sorted and `bound`
    stands for its sequences, else by reading row groups."""
    path = data_file.file_path
    if bound is not None:
        index = _KEY_INDEXES.get(path, lambda: _KeyIndex(_read_keys(io, path)))
        if index.keys is not None:
            found, positions = index.positions(sorted_keys)
            rows = pa.table({KEY: pa.array(found, pa.int64())})
            return _found(rows, pa.array(positions, pa.int64()), deleted, path, bound)
    return _rows_of(io, data_file, keys, deleted, bound)


def remember(data_file: DataFile, rows: pa.Table) -> None:
    """Keep what a flush just wrote, so the next flush need not read it back: `rows` (with
    `customer_id` and `sequence`, in file order) of a small data file, or the (file_path, pos)
    rows of a position-delete file."""
    if data_file.content == DataFileContent.POSITION_DELETES:
        _DELETE_FILES.get(data_file.file_path, lambda: _grouped(rows))
    elif data_file.record_count <= SMALL_FILE_ROWS and data_file.record_count == rows.num_rows:
        _SMALL_FILES.get(data_file.file_path, lambda: rows.select([KEY, SEQUENCE]))


def _small_rows(
    io: FileIO, files: list[DataFile], keys: pa.Array, deleted: dict[str, pa.Array]
) -> pa.Table:
    """The live rows of `keys` in small files, kept in memory: one lookup over them all (a
    lookup per file would rebuild the keys' hash table for each)."""
    tables = [_SMALL_FILES.get(f.file_path, lambda f=f: _read(io, f.file_path)) for f in files]
    if not tables:
        return LIVE_SCHEMA.empty_table()
    rows = pa.concat_tables(tables)
    hits = pc.indices_nonzero(pc.is_in(rows[KEY], value_set=keys))
    starts = list(accumulate((t.num_rows for t in tables), initial=0))
    found = rows.take(hits)
    paths, positions, live = [], [], []
    removed: dict[str, set[int]] = {}
    for index in hits.to_pylist():
        which = bisect_right(starts, index) - 1
        path, position = files[which].file_path, index - starts[which]
        if path not in removed:
            removed[path] = set(deleted[path].to_pylist()) if path in deleted else set()
        live.append(position not in removed[path])
        paths.append(path)
        positions.append(position)
    table = pa.table(
        {
            KEY: found[KEY],
            SEQUENCE: found[SEQUENCE],
            "file_path": pa.array(paths, pa.string()),
            "pos": pa.array(positions, pa.int64()),
        },
        schema=LIVE_SCHEMA,
    )
    return table.filter(pa.array(live, pa.bool_()))


def _may_hold(data_file: DataFile, field_id: int, sorted_keys: list[int]) -> bool:
    """Whether a key of `sorted_keys` lies within the file's `customer_id` bounds (a file
    without bounds may hold any). Checked here rather than by an `In` filter: pyiceberg binds
    an `In` of a thousand literals at a cost of its own, per flush."""
    lower, upper = data_file.lower_bounds or {}, data_file.upper_bounds or {}
    if field_id not in lower or field_id not in upper:
        return True
    (low,), (high,) = struct.unpack("<q", lower[field_id]), struct.unpack("<q", upper[field_id])
    index = bisect_left(sorted_keys, low)
    return index < len(sorted_keys) and sorted_keys[index] <= high


def _bound(table: Table, data_file: DataFile, floor: int | None) -> int | None:
    """The file's upper bound of `sequence` when below `floor`, else None."""
    field_id = table.schema().find_field(SEQUENCE).field_id
    upper = (data_file.upper_bounds or {}).get(field_id)
    if floor is None or upper is None:
        return None
    (bound,) = struct.unpack("<q", upper)
    return bound if bound < floor else None


def _rows_of(
    io: FileIO, data_file: DataFile, keys: pa.Array, deleted: pa.Array, bound: int | None
) -> pa.Table:
    """The rows of `keys` in one data file, minus the `deleted` positions."""
    low, high = pc.min(keys).as_py(), pc.max(keys).as_py()
    parts = []
    with io.new_input(data_file.file_path).open() as stream:
        parquet = pq.ParquetFile(stream)
        names = parquet.schema_arrow.names
        start = 0
        for index in range(parquet.num_row_groups):
            group = parquet.metadata.row_group(index)
            first, start = start, start + group.num_rows
            stats = group.column(names.index(KEY)).statistics
            if stats is not None and stats.has_min_max and (stats.max < low or stats.min > high):
                continue
            columns = [KEY, SEQUENCE] if bound is None else [KEY]
            rows = parquet.read_row_group(index, columns=columns)
            hits = pc.indices_nonzero(pc.is_in(rows[KEY], value_set=keys))
            positions = pc.add(hits.cast(pa.int64()), pa.scalar(first, pa.int64()))
            parts.append(_found(rows.take(hits), positions, deleted, data_file.file_path, bound))
    return pa.concat_tables([LIVE_SCHEMA.empty_table(), *parts])


def _read(io: FileIO, path: str) -> pa.Table:
    with io.new_input(path).open() as stream:
        return pq.read_table(stream, columns=[KEY, SEQUENCE])


def _read_keys(io: FileIO, path: str) -> pa.Array:
    with io.new_input(path).open() as stream:
        return pq.read_table(stream, columns=[KEY])[KEY].combine_chunks()


def _found(
    rows: pa.Table,
    positions: pa.Array,
    deleted: pa.Array | None,
    path: str,
    bound: int | None,
) -> pa.Table:
    """`rows` (found at `positions` of the file), minus the `deleted` positions; their sequence
    is `bound` when given (`rows` then has none)."""
    found = rows.append_column("pos", positions)
    if deleted is not None and len(deleted):
        found = found.filter(pc.invert(pc.is_in(found["pos"], value_set=deleted)))
    return pa.table(
        {
            KEY: found[KEY],
            SEQUENCE: found[SEQUENCE]
            if bound is None
            else pa.array([bound] * found.num_rows, pa.int64()),
            "file_path": pa.array([path] * found.num_rows, pa.string()),
            "pos": found["pos"],
        },
        schema=LIVE_SCHEMA,
    )


def live_files(table: Table) -> tuple[list[DataFile], list[DataFile]]:
    """(data files, position-delete files) of the current snapshot (none without one), from its
    manifests; compaction plans from it too.

    Planned here rather than by a scan: pyiceberg matches every delete file to every data file
    (a metrics evaluation per pair), which grows with the square of the flushes since the last
    compaction. No matching is needed: a position delete names its data file, and a data file's
    path is written once, so a delete can only name files older than itself."""
    data: list[DataFile] = []
    deletes: list[DataFile] = []
    snapshot = table.current_snapshot()
    if snapshot is None:
        return data, deletes
    for manifest in snapshot.manifests(table.io):
        for entry in _MANIFESTS.get(manifest.manifest_path, lambda m=manifest: _entries(table, m)):
            content = entry.data_file.content
            if content == DataFileContent.DATA:
                data.append(entry.data_file)
            elif content == DataFileContent.POSITION_DELETES:
                deletes.append(entry.data_file)
            else:
                raise ValueError(
                    f"{entry.data_file.file_path}: equality deletes are not supported in the "
                    "state table: run `iceberg maintain` with a reader that applies them"
                )
    return data, deletes


def _entries(table: Table, manifest: ManifestFile) -> list[ManifestEntry]:
    return manifest.fetch_manifest_entry(table.io, discard_deleted=True)


def deleted_positions(
    io: FileIO, candidates: list[DataFile], delete_files: list[DataFile]
) -> dict[str, pa.Array]:
    """{data file path: positions the delete files remove}, for the candidate data files. The
    delete files not kept are read in parallel (many after a restart, or in compaction)."""
    if not candidates or not delete_files:
        return {}
    paths = {f.file_path for f in candidates}
    found: dict[str, list[pa.Array]] = {}

    def read(path: str) -> dict[str, pa.Array]:
        return _DELETE_FILES.get(path, lambda: _read_deletes(io, path))

    executor = ExecutorFactory.get_or_create()
    for by_path in executor.map(read, [f.file_path for f in delete_files]):
        for path in by_path.keys() & paths:
            found.setdefault(path, []).append(by_path[path])
    return {path: pa.concat_arrays(parts) for path, parts in found.items()}


def _read_deletes(io: FileIO, path: str) -> dict[str, pa.Array]:
    with io.new_input(path).open() as stream:
        return _grouped(pq.read_table(stream, columns=["file_path", "pos"]))


def _grouped(rows: pa.Table) -> dict[str, pa.Array]:
    """{data file path: positions} of the rows of a position-delete file."""
    rows = rows.select(["file_path", "pos"])
    rows = rows.cast(pa.schema([("file_path", pa.string()), ("pos", pa.int64())]))
    grouped = rows.group_by("file_path").aggregate([("pos", "list")])
    return {
        path.as_py(): positions.values
        for path, positions in zip(grouped["file_path"], grouped["pos_list"], strict=True)
    }
