"""Noticing schema changes while the producer runs, and deciding what each means for capture.

`PRAGMA schema_version` changes on any DDL, by anyone, and is as cheap to poll as
`data_version`. When it moves, `Customer` is looked at again:
- the table, or one of the Chinook columns, is gone (dropped or renamed): capture cannot go on;
  the producer publishes every change captured so far, then stops with a PipelineError;
- the capture triggers are gone (the table was recreated, or they were dropped): the producer
  publishes every change captured so far, then reinstalls them with a fresh snapshot;
- other columns came or went: a warning, and capture goes on (messages carry the Chinook columns).
"""

import enum
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from chinook_producer import capture, change_log
from chinook_shared.changes import COLUMN_NAMES
from chinook_shared.errors import PipelineError

log = logging.getLogger(__name__)


class Action(enum.Enum):
    CARRY_ON = "carry on"
    REINSTALL = "publish what is pending, then reinstall capture with a fresh snapshot"
    STOP = "publish what is pending, then stop"


@dataclass(frozen=True)
class Source:
    """What the producer needs of `Customer`: its columns (empty when gone) and the triggers."""

    columns: tuple[str, ...]
    triggers: bool


@dataclass(frozen=True)
class Verdict:
    action: Action
    message: str


def assess(path: Path, before: Source | None, now: Source) -> Verdict | None:
    """What a schema change means for capture; None when it changes nothing that matters."""
    table = capture.SOURCE_TABLE
    if not now.columns:
        return Verdict(
            Action.STOP,
            f"table {table} was dropped from {path} while the producer was running: restore it, then restart",
        )
    missing = capture.missing_columns(now.columns)
    if missing:
        return Verdict(
            Action.STOP,
            f"column(s) {', '.join(missing)} of table {table} in {path} were dropped or renamed while "
            "the producer was running: restore them, then restart",
        )
    if not now.triggers:
        return Verdict(
            Action.REINSTALL,
            f"capture triggers on table {table} in {path} are gone (table recreated or triggers "
            "dropped): publishing the changes captured so far, then reinstalling them with a fresh snapshot",
        )
    if before is not None and before.columns != now.columns:
        return Verdict(
            Action.CARRY_ON,
            f"columns of table {table} in {path} changed (now {', '.join(now.columns)}): capture goes "
            f"on with the {len(COLUMN_NAMES)} Chinook columns, other columns are not published",
        )
    return None


class SchemaWatch:
    """Re-assesses `Customer` whenever the schema version moves (and on the first check)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._version: int | None = None
        self._seen: Source | None = None

    def check(self, connection: sqlite3.Connection) -> Verdict | None:
        """A verdict the producer must act on (REINSTALL or STOP), or None to go on capturing.

        Safe to repeat after a locked attempt: nothing is remembered until every read succeeded.
        """
        version = change_log.schema_version(connection)
        if version == self._version:
            return None
        now = Source(capture.source_columns(connection), capture.triggers_present(connection))
        verdict = assess(self._path, self._seen, now)
        self._version, self._seen = version, now
        if verdict is None:
            return None
        if verdict.action is Action.STOP:
            log.error("%s (publishing the changes captured so far, then stopping)", verdict.message)
        else:
            log.warning("%s", verdict.message)
        return None if verdict.action is Action.CARRY_ON else verdict


def settle(verdict: Verdict, unpublished: int) -> None:
    """After the pending changes were published (`unpublished` of them could not be): act on it.

    Raises the PipelineError of a STOP verdict; a REINSTALL is left to the next session.
    """
    if verdict.action is Action.STOP:
        outcome = (
            "changes captured so far are published"
            if unpublished == 0
            else f"{unpublished} change(s) captured so far are not in the topic yet: "
            "they are published after the restart"
        )
        raise PipelineError(f"{verdict.message}; {outcome}")
    if unpublished:
        log.warning(
            "%d change(s) captured before the capture triggers went missing are not in the topic: "
            "the fresh snapshot replaces them",
            unpublished,
        )
