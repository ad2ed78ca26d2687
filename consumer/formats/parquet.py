"""Parquet objects: one row per change, the columns derived from the Protobuf descriptor at run
time (shared.arrow), plus each record's Kafka partition, offset and timestamp.

The same records give the same bytes with the same pyarrow and zstd versions (Parquet files
carry no write time); across versions the bytes may differ while the rows stay the same, so a
replay that overwrites an object after an upgrade still stores exactly the same changes.
"""

from dataclasses import dataclass
from typing import ClassVar, Final

import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batcher import TimeGroup
from shared.arrow import changes_to_batch
from shared.framing import split

CONTENT_TYPE: Final = "application/vnd.apache.parquet"
# Bounds a reader's memory per row group; the default flush (50,000 records) fits in one.
ROW_GROUP_ROWS: Final = 100_000


@dataclass(frozen=True)
class ParquetFormat:
    compression: str = "zstd"
    COMPRESSIONS: ClassVar = ("zstd", "gzip", "none")  # the first is the default
    extension: ClassVar = "parquet"
    content_type: ClassVar = CONTENT_TYPE

    def encode(self, group: TimeGroup, partition: int) -> bytes:
        batch = changes_to_batch(
            list(split(group.body)), partition, group.offsets, group.timestamps
        )
        sink = pa.BufferOutputStream()
        # No dictionary pages: on these rows (mostly distinct names, e-mails, phones) plain
        # encoding under zstd was 10% smaller and 15% faster to write than pyarrow's default.
        pq.write_table(
            pa.Table.from_batches([batch]),
            sink,
            row_group_size=ROW_GROUP_ROWS,
            compression=self.compression,
            use_dictionary=False,
        )
        return bytes(sink.getvalue())
