"""Turning buffered batches into durable objects: intent first, then the objects.

A partition's batch is durable when `flush` reports no error for it; only then may its end offset
be committed. A failed batch is left untouched so the same batch can be flushed again.
"""

import logging
from collections.abc import Mapping

from consumer.buffer import PartitionBuffer
from consumer.objects.formats import ObjectFormat, metadata
from consumer.objects.journal import Intent, Journal
from consumer.objects.keys import object_key
from consumer.objects.uploader import S3Object, Uploader

log = logging.getLogger(__name__)


class Flusher:
    def __init__(
        self,
        uploader: Uploader,
        journal: Journal,
        layout: str,
        prefix: str,
        topic: str,
        object_format: ObjectFormat,
    ) -> None:
        self._uploader, self._journal = uploader, journal
        self._layout, self._prefix, self._topic = layout, prefix, topic
        self._format = object_format

    def objects(self, partition: int, buffer: PartitionBuffer) -> list[S3Object]:
        """One object per time bucket, named by the first offset of its own records."""
        return [
            S3Object(
                object_key(
                    self._layout,
                    self._prefix,
                    self._topic,
                    partition,
                    group.first_offset,
                    group.timestamp_ms,
                    self._format.extension,
                ),
                self._format.encode(group, partition),
                self._format.content_type,
                metadata(group),
            )
            for group in buffer.time_groups()
        ]

    def flush(self, buffers: Mapping[int, PartitionBuffer]) -> dict[int, Exception | None]:
        """Make the batches durable; per partition, None when its batch is in S3, else the error.

        Runs on the calling thread (the service's executor runs one partition's batch per
        worker). No object is uploaded before its batch's intent is stored. A batch without
        records (all rejected) needs no object and is durable at once.
        """
        results: dict[int, Exception | None] = {}
        pending: list[tuple[int, S3Object]] = []
        for partition, buffer in buffers.items():
            assert buffer.start is not None and buffer.end is not None
            results[partition] = None
            if not buffer.count:
                continue
            try:
                self._journal.write(partition, Intent(buffer.start, buffer.end))
            except Exception as error:
                results[partition] = error
                continue
            pending.extend((partition, item) for item in self.objects(partition, buffer))
        errors = self._uploader.upload([item for _, item in pending])
        for (partition, item), error in zip(pending, errors, strict=True):
            if error is not None and results[partition] is None:
                results[partition] = error
                log.debug("upload of %s failed: %s", item.key, error)
        return results
