"""Every S3 write the consumer makes, and the one retry policy above boto3's.

boto3 retries each request (standard mode); a flush that still fails is retried as a whole by the
service after `retry_delay`, for as long as the outage lasts.
"""

import io
import random
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.subscribers import BaseSubscriber

from consumer import metrics
from shared.s3 import on_retry

CHECKSUM: Final = "CRC32"


@dataclass(frozen=True)
class S3Object:
    key: str
    body: bytes
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def retry_delay(failures: int, cap: float = 30.0, base: float = 0.5) -> float:
    """Seconds to wait before retrying after `failures` failed flushes: exponential, full jitter."""
    return random.uniform(0, min(cap, base * 2 ** min(failures, 16)))


class _Timer(BaseSubscriber):  # type: ignore[misc]
    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_done(self, future: Future[Any], **_: Any) -> None:
        metrics.UPLOAD_DURATION.observe(time.monotonic() - self.started)


class Uploader:
    """One long-lived transfer manager: the objects of a flush go up in parallel, small ones as
    one PUT, large ones as multipart uploads; every object carries a CRC32 checksum."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        concurrency: int,
        multipart_threshold: int,
        multipart_chunksize: int,
    ) -> None:
        self.client = client
        self.bucket = bucket
        on_retry(client, metrics.UPLOAD_RETRIES.inc)
        config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=concurrency,
        )
        self._manager = create_transfer_manager(client, config)

    def upload(self, objects: Sequence[S3Object]) -> list[Exception | None]:
        """Upload all `objects` concurrently; the error of each (None when it is stored).

        Counts uploaded data objects and bytes; a returned error already survived boto3's retries.
        """
        futures = [
            self._manager.upload(
                io.BytesIO(item.body),
                self.bucket,
                item.key,
                extra_args={
                    "ChecksumAlgorithm": CHECKSUM,
                    "ContentType": item.content_type,
                    "Metadata": dict(item.metadata),
                },
                subscribers=[_Timer()],
            )
            for item in objects
        ]
        errors: list[Exception | None] = []
        for item, future in zip(objects, futures, strict=True):
            try:
                future.result()
            except Exception as error:
                errors.append(error)
            else:
                errors.append(None)
                metrics.OBJECTS_UPLOADED.inc()
                metrics.BYTES_UPLOADED.inc(len(item.body))
        return errors

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store one small object with a single PUT (raises on failure after boto3's retries)."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm=CHECKSUM,
        )

    def get(self, key: str) -> bytes | None:
        """The body of `key`, or None when there is no such object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return bytes(response["Body"].read())

    def close(self, cancel: bool = False) -> None:
        self._manager.shutdown(cancel=cancel)
