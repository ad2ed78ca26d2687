"""Bring a bucket to the configuration the pipeline expects: infrastructure as idempotent code.

Every setting is read first and written only when it differs, so a second run changes nothing
and says so. A dry run reads and reports, and writes nothing. A backend that lacks an API (MinIO
and moto reject some settings) gets one line saying so, and the other settings still apply.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from chinook_shared.errors import PipelineError
from chinook_shared.s3 import describe_error
from chinook_shared.settings import Settings, setting

RULE_ID: Final = "chinook-pipeline"
PUBLIC_ACCESS_BLOCK: Final = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
UNSUPPORTED_CODES: Final = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "XNotImplemented",
        "MethodNotAllowed",
        "InvalidStorageClass",
        "UnsupportedOperation",
    }
)
NOT_CONFIGURED_CODES: Final = frozenset(
    {
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchPublicAccessBlockConfiguration",
        "NoSuchLifecycleConfiguration",
    }
)


@dataclass(frozen=True)
class BucketPolicy(Settings):
    """The settings `setup_bucket` converges a bucket to, besides versioning and the
    public-access block, which are always on."""

    kms_key_id: str | None = setting(None, help="Use SSE-KMS with this key instead of SSE-S3.")
    transition_days: int = setting(
        0, min=0, help="Move objects to a colder class after N days (0: off)."
    )
    transition_storage_class: str = setting("STANDARD_IA", help="Storage class for the transition.")
    expire_days: int = setting(0, min=0, help="Expire objects after N days (0: off).")
    noncurrent_expire_days: int = setting(
        30, min=1, help="Expire noncurrent versions after N days."
    )


class Unsupported(Exception):
    """The backend does not implement this API."""


def desired_encryption(kms_key_id: str | None) -> dict[str, Any]:
    """Default encryption: SSE-KMS with `kms_key_id` (and an S3 bucket key), else SSE-S3."""
    if kms_key_id:
        return {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
    return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


def desired_lifecycle_rule(policy: BucketPolicy) -> dict[str, Any]:
    """The pipeline's one lifecycle rule for the whole bucket (other rules are left alone)."""
    rule: dict[str, Any] = {
        "ID": RULE_ID,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": policy.noncurrent_expire_days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    if policy.transition_days > 0:
        rule["Transitions"] = [
            {"Days": policy.transition_days, "StorageClass": policy.transition_storage_class}
        ]
    if policy.expire_days > 0:
        rule["Expiration"] = {"Days": policy.expire_days}
    return rule


def rule_view(rule: dict[str, Any]) -> tuple[str, ...]:
    """The parts of a lifecycle rule this module manages, readable, and equal across backends' spellings."""
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
    parts = [
        f"prefix {prefix!r}" if prefix else "whole bucket",
        str(rule.get("Status", "")).lower(),
    ]
    parts += [
        f"move to {item.get('StorageClass')} after {_days(item.get('Days'))}"
        for item in rule.get("Transitions", [])
    ]
    if "Days" in (rule.get("Expiration") or {}):
        parts.append(f"expire after {_days(rule['Expiration']['Days'])}")
    if "NoncurrentDays" in (rule.get("NoncurrentVersionExpiration") or {}):
        parts.append(
            f"noncurrent versions expire after {_days(rule['NoncurrentVersionExpiration']['NoncurrentDays'])}"
        )
    if "DaysAfterInitiation" in (rule.get("AbortIncompleteMultipartUpload") or {}):
        parts.append(
            f"abort incomplete uploads after {_days(rule['AbortIncompleteMultipartUpload']['DaysAfterInitiation'])}"
        )
    return tuple(parts)


def _days(count: object) -> str:
    return "1 day" if count == 1 else f"{count} days"


def encryption_view(rule: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The default-encryption settings this module manages, readable."""
    if rule is None:
        return None
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    algorithm = str(default.get("SSEAlgorithm"))
    if algorithm == "aws:kms":
        bucket_key = "bucket key" if rule.get("BucketKeyEnabled") else "no bucket key"
        return (algorithm, f"key {default.get('KMSMasterKeyID')}", bucket_key)
    return (algorithm,)


def setup_bucket(
    client: Any,
    bucket: str,
    *,
    region: str | None,
    policy: BucketPolicy | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Create `bucket` if needed and converge its settings; one line per setting.

    Each line is "<setting>: unchanged (...)", "<setting>: set ..." (or "would set ..." in a dry
    run) or "<setting>: not supported by this S3 backend (...)".
    """
    policy = policy or BucketPolicy()
    setup = _Setup(client, bucket, dry_run)
    setup.ensure_bucket(region or client.meta.region_name)
    setup.converge(
        "versioning",
        lambda: client.get_bucket_versioning(Bucket=bucket).get("Status"),
        "Enabled",
        lambda: client.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        ),
    )
    encryption = desired_encryption(policy.kms_key_id)
    setup.converge(
        "encryption",
        lambda: encryption_view(
            _first_rule(
                _read(client.get_bucket_encryption, bucket, "ServerSideEncryptionConfiguration")
            )
        ),
        encryption_view(encryption),
        lambda: client.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [encryption]}
        ),
    )
    setup.converge(
        "public access block",
        lambda: _read(client.get_public_access_block, bucket, "PublicAccessBlockConfiguration"),
        PUBLIC_ACCESS_BLOCK,
        lambda: client.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
        ),
    )
    rule = desired_lifecycle_rule(policy)
    others: list[dict[str, Any]] = []  # rules someone else made: kept as they are

    def current_rule() -> tuple[str, ...] | None:
        rules = _read(client.get_bucket_lifecycle_configuration, bucket, "Rules") or []
        others.extend(item for item in rules if item.get("ID") != RULE_ID)
        ours = [item for item in rules if item.get("ID") == RULE_ID]
        return rule_view(ours[0]) if ours else None

    setup.converge(
        "lifecycle",
        current_rule,
        rule_view(rule),
        lambda: client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [*others, rule]}
        ),
    )
    return setup.lines


class _Setup:
    """Runs read-compare-write steps and collects their report lines."""

    def __init__(self, client: Any, bucket: str, dry_run: bool) -> None:
        self.client = client
        self.bucket = bucket
        self.dry_run = dry_run
        self.exists = False
        self.lines: list[str] = []

    def ensure_bucket(self, region: str | None) -> None:
        """Create the bucket unless it exists (or this is a dry run)."""
        try:
            _s3_call(lambda: self.client.head_bucket(Bucket=self.bucket), self.bucket)
            self.exists = True
            self.lines.append(f"bucket {self.bucket}: unchanged (exists)")
            return
        except _Missing:
            pass
        where = region or "us-east-1"
        if self.dry_run:
            self.lines.append(f"bucket {self.bucket}: would create in {where}")
            return
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if where != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": where}
        _s3_call(lambda: self.client.create_bucket(**arguments), self.bucket)
        self.exists = True
        self.lines.append(f"bucket {self.bucket}: created in {where}")

    def converge(
        self, setting: str, read: Callable[[], Any], wanted: Any, write: Callable[[], Any]
    ) -> None:
        """Write `wanted` unless `read()` already returns it (a bucket yet to be created has nothing)."""
        try:
            current = _s3_call(read, self.bucket) if self.exists else None
            if current == wanted:
                self.lines.append(f"{setting}: unchanged ({_show(wanted)})")
                return
            if self.dry_run:
                self.lines.append(f"{setting}: would set {_show(wanted)} (now {_show(current)})")
                return
            _s3_call(write, self.bucket)
            self.lines.append(f"{setting}: set {_show(wanted)} (was {_show(current)})")
        except Unsupported as error:
            self.lines.append(f"{setting}: not supported by this S3 backend ({error})")
        except _Missing:
            raise PipelineError(
                f"bucket {self.bucket!r} disappeared during setup: run setup again"
            ) from None


class _Missing(Exception):
    """The bucket does not exist."""


def _read(call: Callable[..., dict[str, Any]], bucket: str, key: str) -> Any:
    """`call(Bucket=bucket)[key]`, or None when the setting was never configured."""
    try:
        return call(Bucket=bucket)[key]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_CONFIGURED_CODES:
            return None
        raise


def _first_rule(configuration: dict[str, Any] | None) -> dict[str, Any] | None:
    rules = (configuration or {}).get("Rules") or []
    return rules[0] if rules else None


def _s3_call(call: Callable[[], Any], bucket: str) -> Any:
    """Run one S3 call, turning its failures into Unsupported, _Missing or PipelineError."""
    try:
        return call()
    except NoCredentialsError:
        raise PipelineError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or run where an instance role is available"
        ) from None
    except EndpointConnectionError:
        raise PipelineError(
            "cannot reach S3: start the S3 server or fix --s3-endpoint-url / AWS_ENDPOINT_URL_S3"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise _Missing() from None
        if code in UNSUPPORTED_CODES or status == 501:
            raise Unsupported(describe_error(error)) from None
        raise PipelineError(f"cannot set up bucket {bucket!r}: {describe_error(error)}") from None
    except BotoCoreError as error:
        raise PipelineError(f"cannot set up bucket {bucket!r}: {error}") from None


def _show(value: Any) -> str:
    if value is None:
        return "not configured"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, dict):
        blocked = [key for key, item in value.items() if item]
        return (
            "all blocked"
            if len(blocked) == len(PUBLIC_ACCESS_BLOCK)
            else "blocked: " + (", ".join(blocked) or "none")
        )
    return str(value)
