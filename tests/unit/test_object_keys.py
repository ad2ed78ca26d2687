"""Which keys the tools read: exactly the consumer's objects under the prefix given."""

import pytest

from chinook_consumer.objects.keys import object_key
from chinook_pipeline.tools.objects import key_format, position, prefixes_of

LAYOUTS = ("hive-hourly", "year-month-day-hour", "entity-date")
EXTENSIONS = {"binpb.gz": "protobuf", "binpb": "protobuf", "parquet": "parquet"}
MOMENT_MS = 1_710_064_800_000


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("extension", EXTENSIONS)
@pytest.mark.parametrize("prefix", ["", "parquet", "a/b"])
def test_every_key_the_consumer_writes_is_read_back_in_its_format(
    layout: str, extension: str, prefix: str
) -> None:
    key = object_key(layout, prefix, "chinook.customers", 3, 412, MOMENT_MS, extension)
    assert key_format(key, prefix) == EXTENSIONS[extension]
    assert key_format(key, f"{prefix}/" if prefix else "") == EXTENSIONS[extension]
    assert position(key) == (3, 412)
    assert key_format(key, "elsewhere") is None
    if prefix:
        assert key_format(key) is None, "another prefix's objects are not read"
        assert prefixes_of([key], EXTENSIONS[extension]) == [prefix]


@pytest.mark.parametrize(
    "key",
    [
        "iceberg/chinook/customer_changes/data/kafka_timestamp_day=2024-03-10/00000-0-ab.parquet",
        "iceberg/chinook/customer_changes/metadata/00032-1f.metadata.json",
        "t/dt=2024-03-10/hour=10/00000-0-ab.parquet",  # a table's file in an object folder
        "t/dt=2024-03-10/hour=10/u+0+00000000000000000001.parquet",  # another topic's name
        "t/dt=2024-03-10/hour=10/t+0+1.parquet",  # offset not 20 digits
        "t/dt=2024-03-10/hour=10/t+0+00000000000000000001.csv",
        "_chinook/journal/t/0.json",
        "notes.txt",
        "t+0+00000000000000000001.binpb.gz",  # no layout folders
    ],
)
def test_nothing_else_is_read(key: str) -> None:
    assert key_format(key) is None
    assert prefixes_of([key], "parquet") == prefixes_of([key], "protobuf") == []
