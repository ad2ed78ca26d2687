"""Every S3 request the consumer makes, on the calling thread.

The service's one executor decides what runs in parallel (a partition's batch per worker); this
module never starts threads of its own. boto3 retries each request (standard mode); a request
that still fails is retried as a whole by the service, under the retry policy (shared/retry.py).
Small objects go up as one PUT, large ones as a multipart upload; every object and every part
carries a CRC32 checksum.
"""

import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

from consumer import metrics
from shared.s3 import on_retry

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
        self._threshold, self._chunksize = multipart_threshold, multipart_chunksize
        on_retry(client, metrics.UPLOAD_RETRIES.inc)

    def upload(self, objects: Sequence[S3Object]) -> list[Exception | None]:
        """Upload `objects` one after the other; the error of each (None when it is stored).

        Counts uploaded data objects and bytes; a returned error already survived boto3's retries.
        """
        errors: list[Exception | None] = []
        for item in objects:
            started = time.monotonic()
            try:
                if len(item.body) >= self._threshold:
                    self._multipart(item)
                else:
                    self.client.put_object(
                        Bucket=self.bucket, Key=item.key, Body=item.body, **_headers(item)
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

    def _multipart(self, item: S3Object) -> None:
        """A multipart upload, aborted when a part fails (no orphaned parts are left billed)."""
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=item.key, **_headers(item)
        )["UploadId"]
        where = {"Bucket": self.bucket, "Key": item.key, "UploadId": upload_id}
        try:
            parts = []
            body = memoryview(item.body)
            for number, start in enumerate(range(0, len(body), self._chunksize), start=1):
                response = self.client.upload_part(
                    **where,
                    PartNumber=number,
                    Body=bytes(body[start : start + self._chunksize]),
                    ChecksumAlgorithm=CHECKSUM,
                )
                parts.append(
                    {
                        "PartNumber": number,
                        "ETag": response["ETag"],
                        "ChecksumCRC32": response["ChecksumCRC32"],
                    }
                )
            self.client.complete_multipart_upload(**where, MultipartUpload={"Parts": parts})
        except Exception:
            with suppress(Exception):
                self.client.abort_multipart_upload(**where)
            raise


def _headers(item: S3Object) -> dict[str, Any]:
    return {
        "ContentType": item.content_type,
        "Metadata": dict(item.metadata),
        "ChecksumAlgorithm": CHECKSUM,
    }
