"""Encoding change rows: NULLs, non-ASCII text, deletes into `before`, rows that do not fit;
the batch encoder gives the same bytes or refuses the read; sequences read back from messages."""

from collections.abc import Sequence

import pytest

from chinook_producer.change_log import CHANGE_FIELDS, ChangeRow, ChangeRows
from chinook_producer.encoder import (
    MAX_MESSAGE_BYTES,
    ChangeEncoder,
    UnencodableRow,
    encode_batch,
    sequence_of,
)
from chinook_shared.changes import COLUMN_NAMES, CustomerChange, Operation, customer_to_row

ROW = (
    7,
    "Luís",
    "Gonçalves",
    "Embraer",
    "Av. Brigadeiro Faria Lima, 2170",
    "São José dos Campos",
    "SP",
    "Brazil",
    "12227-000",
    "+55 (12) 3923-5555",
    None,
    "luisg@embraer.com.br",
    3,
)
SPARSE = (8, "名前", "苗字", None, None, None, None, None, None, None, None, "x@example.jp", None)


def decode(data: bytes) -> CustomerChange:
    return CustomerChange.FromString(data)


def change_row(
    seq: int, op: str, customer_id: object, captured_at_ms: int, row: Sequence[object]
) -> ChangeRow:
    """A change row as `change_log.read_changes` gives it: by column name."""
    columns = dict(zip(COLUMN_NAMES, row, strict=True))
    return {
        "seq": seq,
        "op": op,
        "customer_id": customer_id,
        "captured_at_ms": captured_at_ms,
        **columns,
    }


@pytest.mark.parametrize(
    ("op", "operation"),
    [
        ("snapshot", Operation.OPERATION_SNAPSHOT),
        ("insert", Operation.OPERATION_INSERT),
        ("update", Operation.OPERATION_UPDATE),
    ],
)
def test_row_goes_to_after(op: str, operation: int) -> None:
    change = decode(ChangeEncoder().encode(change_row(42, op, 7, 1_700_000_000_123, ROW)))
    assert change.op == operation
    assert change.sequence == 42
    assert change.customer_id == 7
    assert change.captured_at.ToMilliseconds() == 1_700_000_000_123
    assert change.HasField("after") and not change.HasField("before")
    assert customer_to_row(change.after) == ROW


def test_delete_goes_to_before() -> None:
    change = decode(ChangeEncoder().encode(change_row(43, "delete", 7, 1, ROW)))
    assert change.op == Operation.OPERATION_DELETE
    assert change.HasField("before") and not change.HasField("after")
    assert customer_to_row(change.before) == ROW


def test_nulls_stay_unset_and_empty_strings_stay_set() -> None:
    change = decode(ChangeEncoder().encode(change_row(1, "insert", 8, 1, SPARSE)))
    assert customer_to_row(change.after) == SPARSE
    for field in ("company", "fax", "support_rep_id"):
        assert not change.after.HasField(field)
    empty = (9, "A", "B", "", None, None, None, None, None, None, None, "e", None)
    after = decode(ChangeEncoder().encode(change_row(2, "insert", 9, 1, empty))).after
    assert after.HasField("company") and after.company == ""


def test_reused_encoder_does_not_leak_fields_between_rows() -> None:
    encoder = ChangeEncoder()
    encoder.encode(change_row(1, "insert", 7, 1, ROW))
    change = decode(encoder.encode(change_row(2, "delete", 8, 2, SPARSE)))
    assert not change.HasField("after")
    assert customer_to_row(change.before) == SPARSE


@pytest.mark.parametrize(
    ("index", "value"),
    [(1, b"\xff\xfe blob"), (12, "not a number"), (12, 1.5), (0, "7")],
)
def test_values_of_the_wrong_type_are_rejected(index: int, value: object) -> None:
    row = list(ROW)
    row[index] = value
    with pytest.raises(UnencodableRow, match="change 5"):
        ChangeEncoder().encode(change_row(5, "insert", 7, 1, row))


def test_unknown_operation_is_rejected() -> None:
    with pytest.raises(UnencodableRow, match="unknown operation"):
        ChangeEncoder().encode(change_row(5, "merge", 7, 1, ROW))


def read(*changes: ChangeRow) -> ChangeRows:
    """The changes as one read of the change table."""
    return ChangeRows(
        CHANGE_FIELDS, [tuple(change[name] for name in CHANGE_FIELDS) for change in changes]
    )


VARIED = (
    change_row(1, "snapshot", 7, 1_700_000_000_123, ROW),
    change_row(2, "insert", 8, 1_700_000_000_124, SPARSE),
    change_row(3, "update", 9, 2, (9, "A", "B", "", *[None] * 7, "", 0)),
    change_row(200, "delete", 7, 1, ROW),
    change_row(2**40, "update", 2**40, 1, (2**40, "x", "y", *["z" * 300] * 9, 2**40)),
)


def test_the_batch_encoder_gives_the_same_bytes_as_the_row_encoder() -> None:
    encoder = ChangeEncoder()
    assert encode_batch(read(*VARIED)) == [encoder.encode(change) for change in VARIED]


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (1, b"\xff\xfe blob"),
        (1, b"valid utf-8 blob"),
        (12, "not a number"),
        (12, 1.5),
        (0, "7"),
        (1, None),
    ],
)
def test_the_batch_encoder_refuses_a_read_with_a_value_of_another_type(
    index: int, value: object
) -> None:
    row = list(ROW)
    row[index] = value
    assert encode_batch(read(*VARIED, change_row(5, "insert", 7, 1, row))) is None


def test_the_batch_encoder_refuses_unknown_operations_and_oversized_messages() -> None:
    assert encode_batch(read(change_row(5, "merge", 7, 1, ROW))) is None
    big = (7, "x", "y", "z" * MAX_MESSAGE_BYTES, *[None] * 7, "e", None)
    assert encode_batch(read(*VARIED, change_row(6, "insert", 7, 1, big))) is None


@pytest.mark.parametrize("seq", [1, 127, 128, 300, 2**21, 2**40, 2**63 - 1])
def test_sequence_read_back_from_a_message(seq: int) -> None:
    assert sequence_of(ChangeEncoder().encode(change_row(seq, "update", 7, 1, ROW))) == seq
    unusual = CustomerChange(sequence=seq, customer_id=7).SerializeToString()  # no op field
    assert sequence_of(unusual) == seq
