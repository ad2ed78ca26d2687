"""Turning a partition's buffered batch into durable objects: intent first, then the objects.

A batch is durable once `flush` returns; only then may its end offset be committed. A failed
batch is left untouched so the same batch can be flushed again.
"""

import logging

from chinook_consumer.buffer import PartitionBuffer
from chinook_consumer.objects.formats import ObjectFormat, metadata
from chinook_consumer.objects.journal import Intent, Journal
from chinook_consumer.objects.keys import Keys
from chinook_consumer.objects.uploader import S3Object, Uploader

log = logging.getLogger(__name__)


class ObjectWriter:
    def __init__(
        self, uploader: Uploader, journal: Journal, keys: Keys, object_format: ObjectFormat
    ) -> None:
        self._uploader, self._journal, self._keys = uploader, journal, keys
        self._format = object_format

    def objects(self, partition: int, buffer: PartitionBuffer) -> list[S3Object]:
        """One object per time bucket, named by the first offset of its own records."""
        return [
            S3Object(
                self._keys.key(
                    partition, group.first_offset, group.timestamp_ms, self._format.extension
                ),
                self._format.encode(group, partition),
                self._format.content_type,
                metadata(group),
            )
            for group in buffer.time_groups()
        ]

    def flush(self, partition: int, buffer: PartitionBuffer) -> None:
        """Make the batch durable: returns once it is in S3; raises the first error otherwise.

        Runs on the calling thread (the service's executor runs one partition's batch per
        worker). No object is uploaded before its batch's intent is stored. A batch without
        records (all rejected) needs no object and is durable at once.
        """
        assert buffer.start is not None and buffer.end is not None
        if not buffer.count:
            return
        self._journal.write(partition, Intent(buffer.start, buffer.end))
        objects = self.objects(partition, buffer)
        failed = [
            (item, error)
            for item, error in zip(objects, self._uploader.upload(objects), strict=True)
            if error is not None
        ]
        for item, error in failed:
            log.debug("upload of %s failed: %s", item.key, error)
        if failed:
            raise failed[0][1]
