"""The objects sink: each batch becomes S3 objects (Protobuf or Parquet) under Hive-style keys.

`writer` makes a batch durable (intent first, then the objects), `journal` holds the intents and
says where a partition resumes, `uploader` makes every S3 request, `keys` names the objects,
`formats` encodes them, and `bucket` waits for the bucket at start.
"""

from chinook_consumer.objects.formats import FORMATS

__all__ = ["FORMATS"]
