"""S3's bucket naming rules, and every command that takes a bucket applying them up front."""

import pytest
from click.testing import CliRunner

from chinook_pipeline.cli.main import cli
from chinook_shared.bucket_name import check_bucket_name


@pytest.mark.parametrize(
    "name",
    ["abc", "chinook-data", "my.bucket.2024", "a" * 63, "0-9", "test-0123456789ab"],
)
def test_valid_names_pass(name: str) -> None:
    check_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "use 3-63"),
        ("a" * 64, "use 3-63"),
        ("Bad_Bucket!!", "use 3-63"),
        ("UPPER", "use 3-63"),
        ("under_score", "use 3-63"),
        ("-starts-with-hyphen", "starting and ending with a letter or digit"),
        ("ends-with-dot.", "starting and ending with a letter or digit"),
        ("two..dots", "two dots in a row"),
        ("192.168.5.4", "IP address"),
        ("xn--punycode", "'xn--' is reserved"),
        ("sthree-bucket", "'sthree-' is reserved"),
        ("my-bucket-s3alias", "'-s3alias' is reserved"),
        ("my-bucket--ol-s3", "'--ol-s3' is reserved"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"invalid bucket name {name!r}") as raised:
        check_bucket_name(name)
    assert why in str(raised.value)


BAD = "Bad_Bucket!!"


@pytest.mark.parametrize(
    "args",
    [
        ["bucket", "setup", "--bucket", BAD],
        ["consumer", "--bootstrap-servers", "x:1", "--bucket", BAD],
        ["verify", "--db", "x.db", "--bucket", BAD],
        ["dev", "--bucket", BAD],
        ["bench", "--bucket", BAD],
        ["inspect", f"s3://{BAD}/some/key"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_every_command_rejects_a_bad_bucket_in_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, env={"CHINOOK_BUCKET": None})
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("Error: ") and f"invalid bucket name {BAD!r}: use 3-63" in line


def test_a_bad_bucket_from_the_environment_names_the_variable() -> None:
    result = CliRunner().invoke(
        cli, ["verify", "--db", "x.db"], env={"CHINOOK_BUCKET": "192.168.0.1"}
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: CHINOOK_BUCKET: invalid bucket name '192.168.0.1': "
        "it must not look like an IP address\n"
    )
