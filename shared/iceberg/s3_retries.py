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
rates, 25 commits failed and the tables were still behind after 180 s. More attempts fix that,
but the standard strategy's backoff then makes each failed request cost about a second, and a
commit of tens of requests at those rates costs ten seconds more. AwsDefaultS3RetryStrategy backs
off 25 ms * 2**n instead: six attempts in all wait 1.6 s at most and leave 1 request in 4,000
failing at those rates. A blip is ridden out inside the request; a longer outage fails the commit
within two seconds, so the consumer reports `degraded` and its own backoff (capped exponential
with full jitter, shared/retry.py) takes over, as it should for throttling that lasts.

Every request is safe to repeat: pyarrow writes a file under 10 MB as one PutObject
(`file_io.TableFileIO`) and a larger one as a multipart upload (create, part, complete), under a
name no other attempt uses; a repeated PutObject writes the same bytes again, and a repeated
complete whose first answer was lost is answered with success (by moto; were it answered
NoSuchUpload, the commit would fail and be retried whole, under new names).

pyiceberg instantiates the class named by `s3.retry-strategy-impl` without arguments, hence a
class whose default is the attempts wanted.
"""

from typing import Final

from pyarrow.fs import AwsDefaultS3RetryStrategy

S3_REQUEST_ATTEMPTS: Final = 6  # in all, the first included


class S3RequestRetries(AwsDefaultS3RetryStrategy):
    """AWS default retries (25 ms * 2**n backoff): S3_REQUEST_ATTEMPTS attempts in all."""

    def __init__(self, max_attempts: int = S3_REQUEST_ATTEMPTS - 1) -> None:
        super().__init__(max_attempts)  # pyarrow's `max_attempts` counts the retries


RETRY_STRATEGY_IMPL: Final = f"{S3RequestRetries.__module__}.{S3RequestRetries.__qualname__}"
"""The value of pyiceberg's `s3.retry-strategy-impl` property that selects S3RequestRetries."""
