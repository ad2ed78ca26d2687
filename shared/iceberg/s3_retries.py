"""How pyarrow retries each S3 request of the Iceberg tables' file IO (pyiceberg's PyArrowFileIO).

A table commit makes tens of S3 requests (reads of the metadata, manifests and the state table's
rows; writes of data files, manifests, the manifest list and the metadata). The consumer's retry
policy (shared/retry.py) retries a failed commit from scratch, so every request must first be
retried on its own, as boto3 does for the object destination.

Measured with tests/faults/s3_proxy.py in front of moto: pyarrow's default strategy,
AwsStandardS3RetryStrategy(max_attempts=3), makes 3 attempts in all and retries 500
InternalError, 503 SlowDown, a connection reset before or after S3 applied the request, and a
request timeout, with a jittered backoff of up to 2**n seconds (capped at 20 s). With 25% of
requests failing, 1 in 64 requests then fails: in the table fault scenario at the object suite's
rates, 25 commits failed and the tables were still behind after 180 s. Five attempts make it 1 in
1,000 requests (no commit failed in that scenario), and wait at most 15 s in all (7.5 s on
average): a blip is ridden out inside the request, while a longer outage fails the commit, so the
consumer reports `degraded` and its own backoff takes over.

Every request is safe to repeat: pyarrow writes each file as a multipart upload (create, part,
complete) under a name no other attempt uses, and a repeated complete whose first answer was
lost is answered with success (by moto; were it answered NoSuchUpload, the commit would fail and
be retried whole, under new names).

pyiceberg instantiates the class named by `s3.retry-strategy-impl` without arguments, hence a
class whose default is the attempts wanted.
"""

from typing import Final

from pyarrow.fs import AwsStandardS3RetryStrategy

S3_REQUEST_ATTEMPTS: Final = 5


class S3RequestRetries(AwsStandardS3RetryStrategy):
    """AWS standard retries (jittered exponential backoff) with S3_REQUEST_ATTEMPTS attempts."""

    def __init__(self, max_attempts: int = S3_REQUEST_ATTEMPTS) -> None:
        super().__init__(max_attempts)


RETRY_STRATEGY_IMPL: Final = f"{S3RequestRetries.__module__}.{S3RequestRetries.__qualname__}"
"""The value of pyiceberg's `s3.retry-strategy-impl` property that selects S3RequestRetries."""
