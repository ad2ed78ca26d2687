"""Row-level commits pyiceberg 0.12 cannot make through its public API: every use of its internals.

pyiceberg 0.12 reads v2 position-delete files but writes copy-on-write only (no delete-file
writer, `ManifestWriterV2.content()` is always DATA), and its `overwrite` commits two snapshots,
a delete then an append, so time travel can land on the empty table between them. This module
adds what the state table needs, each in ONE snapshot:

- `commit_row_delta`: new data files plus one position-delete file (the replaced rows' file and
  position), operation `overwrite` (`append` when nothing is deleted), as Iceberg's RowDelta.
  Delete manifests are folded into one once FOLD_DELETE_MANIFESTS pile up.
- `commit_rewrite`: every live data and delete file of the parent snapshot replaced by new data
  files (compaction), operation `overwrite`.
- `read_rows`: the live rows of given data files, less given deleted positions, through
  pyiceberg's own reader (`ArrowScan`) but planned by the caller (compaction plans once).
- `transaction`: a transaction whose staged metadata is built once per staged change. pyiceberg
  0.12 re-applies the staged updates and deep-copies the whole table metadata on every read of
  `Transaction.table_metadata`, about 18 times per commit: 0.17 s of a 1,000-change flush at
  1,000,000 customers, more than finding and writing the rows. `expire_snapshots` uses it too.

It leans on `Transaction.table_metadata`/`_updates`, `_MergeAppendFiles`/`_SnapshotProducer` (manifest plumbing), `ManifestWriterV2` (a
delete manifest), `DataFile.from_args` and `_dataframe_to_data_files` (Parquet data files with
Iceberg statistics), `ArrowScan._record_batches_from_scan_tasks_and_deletes` (reading files with
deletes already read). `tests/unit/test_position_deletes_contract.py` pins these to
PYICEBERG_VERSION. Upstream would need a position-delete writer and a RowDelta/rewrite snapshot
producer (apache/iceberg-python #3618); this module then shrinks to calls of them.
"""

import io
import struct
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import BooleanExpression
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _check_pyarrow_schema_compatible,
    _dataframe_to_data_files,
    schema_to_pyarrow,
)
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriter,
    ManifestWriterV2,
)
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update import TableUpdate, update_table_metadata
from pyiceberg.table.update.snapshot import ExpireSnapshots, _MergeAppendFiles, _SnapshotProducer
from pyiceberg.typedef import Record
from pyiceberg.utils.concurrent import ExecutorFactory

PYICEBERG_VERSION: Final = "0.12.0"
PATH_FIELD_ID: Final = 2147483546  # the Iceberg spec's reserved ids of a position-delete file
POS_FIELD_ID: Final = 2147483545
FOLD_DELETE_MANIFESTS: Final = 16
POSITION_DELETE_SCHEMA: Final = pa.schema(
    [
        pa.field("file_path", pa.string(), False, {b"PARQUET:field_id": str(PATH_FIELD_ID)}),
        pa.field("pos", pa.int64(), False, {b"PARQUET:field_id": str(POS_FIELD_ID)}),
    ]
)


class _StagedOnce(Transaction):
    """A Transaction whose `table_metadata` is computed once per (table metadata, staged updates)
    pair, not on every read. The metadata models are frozen (pydantic), so sharing one copy is
    safe; a new stage or refresh replaces `_updates` or `_table.metadata` and rebuilds it."""

    _staged: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        staged = self._staged
        if staged is None or staged[0] is not base or staged[1] is not updates:
            staged = (base, updates, update_table_metadata(base, updates))
            self._staged = staged
        return staged[2]


def transaction(table: Table) -> Transaction:
    """`table.transaction()`, reading its staged metadata at the cost of one copy per change."""
    return _StagedOnce(table)


def expire_snapshots(table: Table, snapshot_ids: list[int]) -> None:
    """`table.maintenance.expire_snapshots().by_ids(snapshot_ids).commit()`, on a transaction
    that copies the metadata once rather than twice per expired snapshot."""
    ExpireSnapshots(transaction=_StagedOnce(table, autocommit=True)).by_ids(snapshot_ids).commit()


class _DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of delete files (pyiceberg's writer only declares data manifests)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class _RowDelta(_MergeAppendFiles):
    """An append that also adds position-delete files, in a delete manifest of its own."""

    def __init__(self, transaction: Transaction, properties: dict[str, str], deletes: bool) -> None:
        operation = Operation.OVERWRITE if deletes else Operation.APPEND
        super().__init__(
            operation, transaction, transaction._table.io, snapshot_properties=properties
        )
        self._delete_files: list[DataFile] = []

    def add_delete_file(self, delete_file: DataFile) -> None:
        self._delete_files.append(delete_file)

    def _existing_manifests(self) -> list[ManifestFile]:
        """The parent's manifests, the new delete files in a delete manifest of their own; once
        FOLD_DELETE_MANIFESTS delete manifests pile up, all folded into one. A scan opens at
        most that many delete manifests, and a flush reads none it has not read before (folding
        every flush would re-read every delete entry since the last compaction, each flush)."""
        carried = super()._existing_manifests()
        if not self._delete_files:
            return carried
        deletes = [m for m in carried if m.content == ManifestContent.DELETES]
        if len(deletes) + 1 < FOLD_DELETE_MANIFESTS:
            return [_write_delete_manifest(self, self._delete_files), *carried]
        data = [m for m in carried if m.content == ManifestContent.DATA]
        existing = [
            entry
            for manifest in deletes
            for entry in manifest.fetch_manifest_entry(self._io, discard_deleted=True)
        ]
        return [_write_delete_manifest(self, self._delete_files, existing), *data]

    def _summary(self, snapshot_properties: dict[str, str] = {}) -> object:  # noqa: B006
        data = self._added_data_files
        self._added_data_files = [*data, *self._delete_files]  # counted, not written as data
        try:
            return super()._summary(snapshot_properties)
        finally:
            self._added_data_files = data


class _Rewrite(_SnapshotProducer["_Rewrite"]):
    """Every live file of the parent replaced: no manifest carried, the data files marked deleted."""

    def _existing_manifests(self) -> list[ManifestFile]:
        return []

    def _deleted_entries(self) -> list[ManifestEntry]:
        parent = self._transaction.table_metadata.snapshot_by_id(self._parent_snapshot_id or -1)
        if parent is None:
            return []
        return [
            ManifestEntry.from_args(
                status=ManifestEntryStatus.DELETED,
                snapshot_id=self._snapshot_id,
                sequence_number=entry.sequence_number,
                file_sequence_number=entry.file_sequence_number,
                data_file=entry.data_file,
            )
            for manifest in parent.manifests(self._io)
            if manifest.content == ManifestContent.DATA
            for entry in manifest.fetch_manifest_entry(self._io, discard_deleted=True)
        ]


def _write_delete_manifest(
    producer: _SnapshotProducer,
    files: list[DataFile],
    existing: list[ManifestEntry] = [],  # noqa: B006
) -> ManifestFile:
    """One delete manifest: `files` added by this snapshot, `existing` entries carried over
    with their own snapshot and sequence numbers."""
    metadata = producer._transaction.table_metadata
    writer: ManifestWriter = _DeleteManifestWriter(
        metadata.spec(),
        metadata.schema(),
        producer.new_manifest_output(),
        producer.snapshot_id,
        producer._compression,
    )
    with writer:
        for entry in existing:
            writer.existing(entry)
        for delete_file in files:
            writer.add(
                ManifestEntry.from_args(
                    status=ManifestEntryStatus.ADDED,
                    snapshot_id=producer.snapshot_id,
                    sequence_number=None,
                    file_sequence_number=None,
                    data_file=delete_file,
                )
            )
    return writer.to_manifest_file()


def data_files(transaction: Transaction, rows: pa.Table) -> list[DataFile]:
    """Write `rows` (already in the order wanted) as Parquet data files of the table, with the
    statistics readers prune by; nothing is committed."""
    if not rows.num_rows:
        return []
    metadata = transaction.table_metadata
    _checked(metadata.schema().model_dump_json(), rows.schema, metadata.format_version)
    return list(
        _dataframe_to_data_files(table_metadata=metadata, df=rows, io=transaction._table.io)
    )


@lru_cache(maxsize=16)
def _checked(schema_json: str, provided: pa.Schema, format_version: int) -> None:
    """pyiceberg's check that `provided` fits the table schema, once per pair: it costs about
    3 ms, the same every flush."""
    _check_pyarrow_schema_compatible(
        Schema.model_validate_json(schema_json),
        provided_schema=provided,
        format_version=format_version,  # type: ignore[arg-type]
    )


def position_delete_file(transaction: Transaction, deletes: pa.Table) -> DataFile:
    """Write the (file_path, pos) rows of `deletes` as one position-delete file, sorted by path
    then position as the spec requires, with path bounds so readers match it to data files."""
    ordered = deletes.select(["file_path", "pos"]).cast(POSITION_DELETE_SCHEMA)
    ordered = ordered.sort_by([("file_path", "ascending"), ("pos", "ascending")])
    table = transaction._table
    path = table.location_provider().new_data_location(f"deletes-{_uuid()}.parquet")
    buffer = io.BytesIO()
    pq.write_table(ordered, buffer, compression="zstd")
    body = buffer.getvalue()
    with table.io.new_output(path).create(overwrite=True) as stream:
        stream.write(body)
    paths, positions = ordered["file_path"], ordered["pos"]
    return DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=ordered.num_rows,
        file_size_in_bytes=len(body),
        lower_bounds={
            PATH_FIELD_ID: paths[0].as_py().encode(),
            POS_FIELD_ID: struct.pack("<q", min(positions.to_pylist())),
        },
        upper_bounds={
            PATH_FIELD_ID: paths[-1].as_py().encode(),
            POS_FIELD_ID: struct.pack("<q", max(positions.to_pylist())),
        },
        null_value_counts={PATH_FIELD_ID: 0, POS_FIELD_ID: 0},
        value_counts={PATH_FIELD_ID: ordered.num_rows, POS_FIELD_ID: ordered.num_rows},
        spec_id=transaction.table_metadata.default_spec_id,
        sort_order_id=None,
        equality_ids=None,
        key_metadata=None,
    )


def commit_row_delta(
    transaction: Transaction,
    added: Iterable[DataFile],
    deletes: DataFile | None,
    properties: dict[str, str],
) -> None:
    """Stage, in `transaction`, ONE snapshot adding `added` data files and the `deletes` file."""
    producer = _RowDelta(transaction, properties, deletes is not None)
    for data_file in added:
        producer.append_data_file(data_file)
    if deletes is not None:
        producer.add_delete_file(deletes)
    producer.commit()


def commit_rewrite(
    transaction: Transaction, added: Iterable[DataFile], properties: dict[str, str]
) -> None:
    """Stage, in `transaction`, ONE snapshot replacing every live file by the `added` data files."""
    io = transaction._table.io
    producer = _Rewrite(Operation.OVERWRITE, transaction, io, snapshot_properties=properties)
    metadata = transaction.table_metadata
    parent = metadata.current_snapshot()
    if parent is not None:
        for manifest in parent.manifests(io):
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                producer.delete_data_file(entry.data_file)
    for data_file in added:
        producer.append_data_file(data_file)
    producer.commit()


def read_rows(
    table: Table,
    files: list[DataFile],
    deleted: dict[str, pa.Array],
    row_filter: BooleanExpression,
) -> pa.Table:
    """The rows of the data `files` that `row_filter` selects, less the `deleted` positions
    ({data file path: positions}), in the table's schema, as `table.scan(row_filter).to_arrow()`
    reads them, without planning the table; files are read in parallel (pyiceberg's executor)."""
    batches = list(record_batches(table, files, deleted, row_filter))
    if not batches:
        return schema_to_pyarrow(table.metadata.schema(), include_field_ids=False).empty_table()
    tables = (pa.Table.from_batches([batch]) for batch in batches)
    return pa.concat_tables(tables, promote_options="permissive")


def record_batches(
    table: Table,
    files: list[DataFile],
    deleted: dict[str, pa.Array],
    row_filter: BooleanExpression,
) -> Iterator[pa.RecordBatch]:
    """`read_rows` as record batches: several files are read in parallel, each whole before its
    batches are yielded; ONE file is streamed, a batch at a time, whatever its size."""
    metadata = table.metadata
    scan = ArrowScan(metadata, table.io, metadata.schema(), row_filter)
    positions = {path: [pa.chunked_array([removed])] for path, removed in deleted.items()}

    def read(data_file: DataFile) -> Iterator[pa.RecordBatch]:
        task = FileScanTask(data_file)
        return scan._record_batches_from_scan_tasks_and_deletes([task], positions)

    if len(files) == 1:
        yield from read(files[0])
        return
    for part in ExecutorFactory.get_or_create().map(lambda f: list(read(f)), files):
        yield from part


def _uuid() -> str:
    import uuid

    return uuid.uuid4().hex
