"""The `--bucket` setting the consumer and the tools share."""

from shared.settings import Setting, non_empty

BUCKET = Setting(help="S3 bucket.", rule=non_empty)  # each command says what it is for
