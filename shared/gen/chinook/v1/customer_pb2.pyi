import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Customer(_message.Message):
    __slots__ = ("customer_id", "first_name", "last_name", "company", "address", "city", "state", "country", "postal_code", "phone", "fax", "email", "support_rep_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    FAX_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_REP_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: int
    first_name: str
    last_name: str
    company: str
    address: str
    city: str
    state: str
    country: str
    postal_code: str
    phone: str
    fax: str
    email: str
    support_rep_id: int
    def __init__(self, customer_id: _Optional[int] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., company: _Optional[str] = ..., address: _Optional[str] = ..., city: _Optional[str] = ..., state: _Optional[str] = ..., country: _Optional[str] = ..., postal_code: _Optional[str] = ..., phone: _Optional[str] = ..., fax: _Optional[str] = ..., email: _Optional[str] = ..., support_rep_id: _Optional[int] = ...) -> None: ...

class CustomerChange(_message.Message):
    __slots__ = ("op", "sequence", "captured_at", "customer_id", "after", "before")
    class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OPERATION_UNSPECIFIED: _ClassVar[CustomerChange.Operation]
        OPERATION_SNAPSHOT: _ClassVar[CustomerChange.Operation]
        OPERATION_INSERT: _ClassVar[CustomerChange.Operation]
        OPERATION_UPDATE: _ClassVar[CustomerChange.Operation]
        OPERATION_DELETE: _ClassVar[CustomerChange.Operation]
    OPERATION_UNSPECIFIED: CustomerChange.Operation
    OPERATION_SNAPSHOT: CustomerChange.Operation
    OPERATION_INSERT: CustomerChange.Operation
    OPERATION_UPDATE: CustomerChange.Operation
    OPERATION_DELETE: CustomerChange.Operation
    OP_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    op: CustomerChange.Operation
    sequence: int
    captured_at: _timestamp_pb2.Timestamp
    customer_id: int
    after: Customer
    before: Customer
    def __init__(self, op: _Optional[_Union[CustomerChange.Operation, str]] = ..., sequence: _Optional[int] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_id: _Optional[int] = ..., after: _Optional[_Union[Customer, _Mapping]] = ..., before: _Optional[_Union[Customer, _Mapping]] = ...) -> None: ...
