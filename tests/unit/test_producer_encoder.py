"""Encoding change rows: NULLs, non-ASCII text, deletes into `before`, rows that do not fit."""

import pytest

from producer.encoder import ChangeEncoder, UnencodableRow
from shared.changes import CustomerChange, Operation, customer_to_row

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


@pytest.mark.parametrize(
    ("op", "operation"),
    [
        ("snapshot", Operation.OPERATION_SNAPSHOT),
        ("insert", Operation.OPERATION_INSERT),
        ("update", Operation.OPERATION_UPDATE),
    ],
)
def test_row_goes_to_after(op: str, operation: int) -> None:
    change = decode(ChangeEncoder().encode((42, op, 7, 1_700_000_000_123, *ROW)))
    assert change.op == operation
    assert change.sequence == 42
    assert change.customer_id == 7
    assert change.captured_at.ToMilliseconds() == 1_700_000_000_123
    assert change.HasField("after") and not change.HasField("before")
    assert customer_to_row(change.after) == ROW


def test_delete_goes_to_before() -> None:
    change = decode(ChangeEncoder().encode((43, "delete", 7, 1, *ROW)))
    assert change.op == Operation.OPERATION_DELETE
    assert change.HasField("before") and not change.HasField("after")
    assert customer_to_row(change.before) == ROW


def test_nulls_stay_unset_and_empty_strings_stay_set() -> None:
    change = decode(ChangeEncoder().encode((1, "insert", 8, 1, *SPARSE)))
    assert customer_to_row(change.after) == SPARSE
    for field in ("company", "fax", "support_rep_id"):
        assert not change.after.HasField(field)
    empty = (9, "A", "B", "", None, None, None, None, None, None, None, "e", None)
    after = decode(ChangeEncoder().encode((2, "insert", 9, 1, *empty))).after
    assert after.HasField("company") and after.company == ""


def test_reused_encoder_does_not_leak_fields_between_rows() -> None:
    encoder = ChangeEncoder()
    encoder.encode((1, "insert", 7, 1, *ROW))
    change = decode(encoder.encode((2, "delete", 8, 2, *SPARSE)))
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
        ChangeEncoder().encode((5, "insert", 7, 1, *row))


def test_unknown_operation_is_rejected() -> None:
    with pytest.raises(UnencodableRow, match="unknown operation"):
        ChangeEncoder().encode((5, "merge", 7, 1, *ROW))
