"""The one S3 client factory both services and the tools use: same code for AWS, MinIO and moto.

Retries are boto3's own ("standard" mode: exponential backoff with full jitter, bounded
attempts, retrying 5xx, throttling such as SlowDown, connection resets and timeouts).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from chinook_shared.errors import PipelineError
from chinook_shared.settings import Settings, setting


@dataclass(frozen=True)
class S3Settings(Settings):
    """Where S3 is. Credentials come from the standard AWS chain, never from here."""

    endpoint_url: str | None = setting(
        None,
        flag="s3-endpoint-url",
        help="S3 endpoint (MinIO, moto); overrides AWS_ENDPOINT_URL_S3. Credentials come from the "
        "standard AWS chain.",
    )
    region: str | None = setting(
        None,
        flag="s3-region",
        help="S3 region; defaults to the AWS chain (AWS_DEFAULT_REGION, profile).",
    )
    max_attempts: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 16


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client; `endpoint_url` overrides AWS_ENDPOINT_URL_S3 when given.

    boto3 is imported here, not with the module: the settings are imported by every command's
    options, and importing boto3 costs the producer's start about 0.2 s for nothing."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_pool_connections,
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


def on_retry(client: Any, callback: Callable[[int], None]) -> None:
    """Call `callback(attempts_retried)` after every S3 call that needed retries."""

    def after_call(parsed: dict[str, Any] | None = None, **_: Any) -> None:
        retried = (parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if retried:
            callback(retried)

    client.meta.events.register("after-call.s3", after_call)


def describe_error(error: Exception) -> str:
    """A one-line description of an S3 failure, free of credentials."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'error')}: {info.get('Message', '')}".strip()
    return f"{type(error).__name__}: {error}"


def check_bucket(client: Any, bucket: str) -> None:
    """Raise PipelineError unless `bucket` exists and is reachable with the current credentials."""
    endpoint = client.meta.endpoint_url
    try:
        client.head_bucket(Bucket=bucket)
    except EndpointConnectionError:
        raise PipelineError(
            f"cannot reach S3 at {endpoint}: start the S3 server or fix --s3-endpoint-url / "
            "AWS_ENDPOINT_URL_S3"
        ) from None
    except (ClientError, BotoCoreError) as error:
        problem = bucket_problem(client, bucket, error)
        if problem:
            raise PipelineError(problem) from None
        if isinstance(error, ClientError):
            raise PipelineError(f"cannot use bucket {bucket!r}: {describe_error(error)}") from None
        raise PipelineError(f"cannot use bucket {bucket!r} at {endpoint}: {error}") from None


def bucket_problem(client: Any, bucket: str, error: Exception) -> str | None:
    """What is wrong, with the fix, when a request on `bucket` failed for a reason no retry can
    fix (no credentials, no such bucket, access denied); None for any other error."""
    endpoint = client.meta.endpoint_url
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or run where an instance role is available"
        )
    if not isinstance(error, ClientError):
        return None
    code = error.response.get("Error", {}).get("Code", "")
    if code in {"404", "NoSuchBucket", "NotFound"}:
        return (
            f"bucket {bucket!r} does not exist at {endpoint}: create it with "
            f"`chinook-pipeline bucket setup --bucket {bucket}`"
        )
    if code in {"403", "AccessDenied"}:
        return (
            f"access to bucket {bucket!r} denied at {endpoint}: check the credentials' "
            "IAM policy (see docs/aws.md)"
        )
    return None
