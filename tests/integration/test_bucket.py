"""`bucket setup` logic against a real moto S3 server."""

import uuid
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chinook_pipeline.tools.bucket import (
    RULE_ID,
    BucketPolicy,
    desired_lifecycle_rule,
    rule_view,
    setup_bucket,
)
from chinook_shared.errors import PipelineError
from chinook_shared.s3 import S3Settings, make_client
from tests.conftest import Cli


def new_name() -> str:
    return f"setup-{uuid.uuid4().hex[:12]}"


def lifecycle_rule(client: Any, bucket: str) -> dict[str, Any]:
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    return next(rule for rule in rules if rule["ID"] == RULE_ID)


def test_creates_and_configures_a_new_bucket(s3_client: Any) -> None:
    name = new_name()
    policy = BucketPolicy(transition_days=30, expire_days=400, noncurrent_expire_days=7)
    lines = setup_bucket(s3_client, name, region=None, policy=policy)
    assert lines[0] == f"bucket {name}: created in us-east-1"
    assert s3_client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    encryption = s3_client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3_client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rule = lifecycle_rule(s3_client, name)
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert rule["Expiration"] == {"Days": 400}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_second_run_changes_nothing(s3_client: Any) -> None:
    name = new_name()
    options: dict[str, Any] = {
        "region": None,
        "policy": BucketPolicy(kms_key_id="alias/chinook", transition_days=60, expire_days=0),
    }
    first = setup_bucket(s3_client, name, **options)
    assert not any("unchanged" in line for line in first)
    before = s3_client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    second = setup_bucket(s3_client, name, **options)
    assert len(second) == 5
    assert all("unchanged" in line for line in second), second
    assert s3_client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"] == before
    encryption = s3_client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    assert encryption["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": "alias/chinook",
    }
    assert "Expiration" not in lifecycle_rule(s3_client, name)


def test_changes_only_what_differs_and_keeps_other_lifecycle_rules(
    s3_client: Any, bucket: str
) -> None:
    s3_client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "theirs",
                    "Filter": {"Prefix": "tmp/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": 1},
                }
            ]
        },
    )
    setup_bucket(s3_client, bucket, region=None)
    lines = setup_bucket(s3_client, bucket, region=None, policy=BucketPolicy(expire_days=90))
    assert [line.split(":")[0] for line in lines if "unchanged" not in line] == ["lifecycle"]
    ids = {
        rule["ID"] for rule in s3_client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    }
    assert ids == {"theirs", RULE_ID}
    assert lifecycle_rule(s3_client, bucket)["Expiration"] == {"Days": 90}


def test_dry_run_changes_nothing(s3_client: Any, bucket: str) -> None:
    lines = setup_bucket(
        s3_client, bucket, region=None, policy=BucketPolicy(transition_days=30), dry_run=True
    )
    assert [line.split(":")[0] for line in lines] == [
        f"bucket {bucket}",
        "versioning",
        "encryption",
        "public access block",
        "lifecycle",
    ]
    assert all("would set" in line for line in lines[1:]), lines
    assert "Status" not in s3_client.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(s3_client.exceptions.ClientError):
        s3_client.get_bucket_lifecycle_configuration(Bucket=bucket)

    name = new_name()
    lines = setup_bucket(s3_client, name, region="eu-west-1", dry_run=True)
    assert lines[0] == f"bucket {name}: would create in eu-west-1"
    with pytest.raises(s3_client.exceptions.ClientError):
        s3_client.head_bucket(Bucket=name)


def test_creates_outside_us_east_1_with_a_location_constraint(s3_client: Any) -> None:
    name = new_name()
    setup_bucket(s3_client, name, region="eu-central-1")
    assert s3_client.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-central-1"


def test_rule_view_ignores_backend_spelling() -> None:
    ours = desired_lifecycle_rule(BucketPolicy())
    assert rule_view({**ours, "Filter": {}}) == rule_view(ours)
    assert rule_view({**ours, "Filter": {"Prefix": "x/"}}) != rule_view(ours)


def test_unreachable_s3_is_a_pipeline_error(s3_env: dict[str, str]) -> None:
    client = make_client(
        S3Settings(endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=0.5)
    )
    with pytest.raises(PipelineError, match="cannot reach S3"):
        setup_bucket(client, new_name(), region=None)


def test_missing_credentials_are_a_pipeline_error(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = make_client(S3Settings(max_attempts=1))
    with pytest.raises(PipelineError, match="no AWS credentials"):
        setup_bucket(client, new_name(), region=None)


def test_an_api_the_backend_lacks_is_reported_and_skipped(s3_client: Any, bucket: str) -> None:
    """The backend answers PutPublicAccessBlock with 501 NotImplemented, as some MinIO versions do."""

    def not_implemented(request: Any, **_: Any) -> AWSResponse | None:
        if "publicAccessBlock" not in request.url or request.method != "PUT":
            return None
        body = b"<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>"
        return AWSResponse(request.url, 501, {}, _Raw(body))

    s3_client.meta.events.register("before-send.s3.PutPublicAccessBlock", not_implemented)
    lines = setup_bucket(s3_client, bucket, region=None)
    assert lines[3].startswith(
        "public access block: not supported by this S3 backend (NotImplemented"
    )
    assert lines[4].startswith("lifecycle: set ")
    assert s3_client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


@pytest.mark.parametrize(
    "args",
    [["bucket", "setup", "--bucket", "Bad_Bucket!!"], ["inspect", "s3://Bad_Bucket!!/key"]],
    ids=["setup", "inspect"],
)
def test_a_bad_bucket_name_is_one_line_before_any_request(cli: Cli, args: list[str]) -> None:
    result = cli.run(*args, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "Error: "
        + ("--bucket" if args[0] == "bucket" else "SOURCE")
        + ": invalid bucket name 'Bad_Bucket!!': use 3-63 lower-case letters, digits, dots or "
        "hyphens, starting and ending with a letter or digit\n"
    )
