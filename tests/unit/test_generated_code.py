"""The committed Protobuf code is exactly what `make proto` generates from `proto/`."""

from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO = "chinook/v1/customer.proto"
GENERATED = ("customer_pb2.py", "customer_pb2.pyi")


def test_generated_code_is_current(tmp_path: Path) -> None:
    well_known = (
        files("grpc_tools") / "_proto"
    )  # google/protobuf/timestamp.proto, as `make proto` finds it
    status = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{well_known}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(ROOT / "proto" / PROTO),
        ]
    )
    assert status == 0, "protoc failed on proto/"
    for name in GENERATED:
        fresh = (tmp_path / "chinook" / "v1" / name).read_text()
        committed = (ROOT / "shared" / "gen" / "chinook" / "v1" / name).read_text()
        assert committed == fresh, f"shared/gen/chinook/v1/{name} is stale: run `make proto`"


def test_message_type_is_the_change_event() -> None:
    from chinook_shared.changes import MESSAGE_TYPE

    assert MESSAGE_TYPE == "chinook.v1.CustomerChange"
