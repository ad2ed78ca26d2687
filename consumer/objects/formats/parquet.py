"""Parquet objects: one row per change, the columns derived from the Protobuf descriptor at run
time (shared.arrow), plus each record's Kafka partition, offset and timestamp.

The same records give the same bytes with the same pyarrow and zstd versions (Parquet files
carry no write time); across versions the bytes may differ while the rows stay the same, so a
replay that overwrites an object after an upgrade still stores exactly the same changes.
"""

from dataclasses import dataclass
from itertools import islice
from typing import ClassVar, Final

import pyarrow as pa
import pyarrow.parquet as pq

from chinook_consumer.buffer import TimeGroup
from chinook_shared.arrow import change_schema, changes_to_batch
from chinook_shared.framing import split

CONTENT_TYPE: Final = "application/vnd.apache.parquet"
# Records are converted and written one row group at a time, so an encode holds at most one row
# group's rows as Python bytes and Arrow arrays (about 600 bytes a change here) whatever the
# batch size; a default flush (50,000 records) is one row group.
ROW_GROUP_ROWS: Final = 65_536


@dataclass(frozen=True)
class ParquetFormat:
    compression: str = "zstd"
    COMPRESSIONS: ClassVar = ("zstd", "gzip", "none")  # the first is the default
    extension: ClassVar = "parquet"
    content_type: ClassVar = CONTENT_TYPE

    def encode(self, group: TimeGroup, partition: int) -> bytes:
        sink = pa.BufferOutputStream()
        values = split(group.body)
        # No dictionary pages: on these rows (mostly distinct names, e-mails, phones) plain
        # encoding under zstd was 10% smaller and 15% faster to write than pyarrow's default.
        with pq.ParquetWriter(
            sink, change_schema(), compression=self.compression, use_dictionary=False
        ) as writer:
            for start in range(0, group.count, ROW_GROUP_ROWS):
                rows = list(islice(values, ROW_GROUP_ROWS))
                stop = start + len(rows)
                writer.write_batch(
                    changes_to_batch(
                        rows, partition, group.offsets[start:stop], group.timestamps[start:stop]
                    )
                )
        return bytes(sink.getvalue())
