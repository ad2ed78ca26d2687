"""What happens to a change row that cannot be encoded: for now it is logged, counted and skipped.

Its sequence still counts as acknowledged, so one bad row never stops capture. (A dead-letter
topic for these rows is a planned follow-up.)
"""

import logging

from producer.change_log import Row
from producer.encoder import UnencodableRow
from producer.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)


def skip_unencodable(row: Row, error: UnencodableRow) -> None:
    log.error("skipping change %s of customer %s: %s", row[0], row[2], error)
    DEAD_LETTERS.inc()
