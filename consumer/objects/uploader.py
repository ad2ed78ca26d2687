"""Every S3 request the consumer makes, on the calling thread.

The service's one executor decides what runs in parallel (a partition's batch per worker); this
module never starts threads of its own. boto3 retries each request (standard mode); a request
that still fails is retried as a whole by the service, under the retry policy (shared/retry.py).
Objects go up through boto3's managed transfer without its thread pool: one PUT for small ones, a
multipart upload (aborted if it fails) for large ones; every object and every part carries a
CRC32 checksum.
"""

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from chinook_consumer import metrics
from chinook_shared.s3 import on_retry

CHECKSUM: Final = "CRC32"


@dataclass(frozen=True)
class S3Object:
    key: str
    body: bytes
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class Uploader:
    def __init__(
        self, client: Any, bucket: str, multipart_threshold: int, multipart_chunksize: int
    ) -> None:
        self.client = client
        self.bucket = bucket
        # boto3's managed transfer (multipart above the threshold, parts retried, a failed upload
        # aborted) on the calling thread: the service's one executor owns the parallelism.
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            use_threads=False,
        )
        on_retry(client, metrics.UPLOAD_RETRIES.inc)

    def upload(self, objects: Sequence[S3Object]) -> list[Exception | None]:
        """Upload `objects` one after the other; the error of each (None when it is stored).

        Counts uploaded data objects and bytes; a returned error already survived boto3's retries.
        """
        errors: list[Exception | None] = []
        for item in objects:
            started = time.monotonic()
            try:
                self.client.upload_fileobj(
                    io.BytesIO(item.body),
                    self.bucket,
                    item.key,
                    ExtraArgs={
                        "ContentType": item.content_type,
                        "Metadata": dict(item.metadata),
                        "ChecksumAlgorithm": CHECKSUM,
                    },
                    Config=self._transfer,
                )
            except Exception as error:
                errors.append(error)
                continue
            errors.append(None)
            metrics.UPLOAD_DURATION.observe(time.monotonic() - started)
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
