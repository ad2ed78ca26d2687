"""S3's bucket naming rules, checked before any request so a bad name gets one plain line
instead of botocore's regular expressions."""

import ipaddress
import re

from chinook_shared.settings import Setting

_SHAPE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> None:
    """Raise ValueError saying what is wrong unless `name` is a valid S3 bucket name."""
    invalid = f"invalid bucket name {name!r}"
    if not _SHAPE.fullmatch(name):
        raise ValueError(
            f"{invalid}: use 3-63 lower-case letters, digits, dots or hyphens, starting and "
            "ending with a letter or digit"
        )
    if ".." in name:
        raise ValueError(f"{invalid}: two dots in a row are not allowed")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{invalid}: it must not look like an IP address")
    reserved = [p for p in RESERVED_PREFIXES if name.startswith(p)] + [
        s for s in RESERVED_SUFFIXES if name.endswith(s)
    ]
    if reserved:
        raise ValueError(f"{invalid}: {reserved[0]!r} is reserved by S3")


BUCKET = Setting(help="S3 bucket.", rule=check_bucket_name)  # each command says what it is for
