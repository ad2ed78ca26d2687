"""Exactly-once into S3 across crashes, whatever triggered the flush (records, bytes or age).

Before a batch [start, end) of a partition is uploaded, an intent {"start", "end"} is stored at
`<prefix>/_chinook/journal/<group>/<topic>/<partition>.json`; after the upload, offset `end` is
committed. A new owner of the partition compares the intent with the committed offset: when the
batch may be partly uploaded but is not committed, it rebuilds exactly that batch (same records,
same time split, same keys), so the re-upload overwrites the earlier objects instead of adding
duplicates. Offset-commit metadata would be the natural place for this, but some brokers (Tansu)
drop it, so the intent lives next to the data. Cost: one small PUT per batch.
"""

import json
import logging
from dataclasses import dataclass
from typing import Final

from chinook_consumer.objects.keys import join_key
from chinook_consumer.objects.uploader import Uploader
from chinook_consumer.positions import Position
from chinook_shared.names import JOURNAL_DIR

log = logging.getLogger(__name__)
CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True)
class Intent:
    """A batch about to be uploaded: offsets [start, end)."""

    start: int
    end: int


def resume_point(committed: int | None, intent: Intent | None) -> Position:
    """Decide where to start from the committed offset and the last intent (both may be missing)."""
    if intent is None:
        return Position(None)
    if committed is not None and (intent.start < committed or intent.end <= committed):
        return Position(None)  # that batch was committed: it is complete in S3
    return Position(intent.start, intent.end)


def journal_key(prefix: str, group_id: str, topic: str, partition: int) -> str:
    return join_key(prefix, JOURNAL_DIR, "journal", group_id, topic, f"{partition}.json")


class Journal:
    """Reads and writes the intents of one group and topic."""

    def __init__(self, uploader: Uploader, prefix: str, group_id: str, topic: str) -> None:
        self._uploader = uploader
        self._prefix, self._group_id, self._topic = prefix, group_id, topic

    def key(self, partition: int) -> str:
        return journal_key(self._prefix, self._group_id, self._topic, partition)

    def find(self, partition: int, committed: int | None) -> Position:
        """Where `partition` resumes: at the committed offset, or rebuilding the last intent's
        batch when it may be partly uploaded and is not committed."""
        return resume_point(committed, self.read(partition))

    def read(self, partition: int) -> Intent | None:
        body = self._uploader.get(self.key(partition))
        if body is None:
            return None
        try:
            document = json.loads(body)
            return Intent(int(document["start"]), int(document["end"]))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable intent %s: %s", self.key(partition), error)
            return None

    def write(self, partition: int, intent: Intent) -> None:
        body = json.dumps({"start": intent.start, "end": intent.end}).encode()
        self._uploader.put(self.key(partition), body, CONTENT_TYPE)
