import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from cxflow.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DedupField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEDUP_FIELD_UNSPECIFIED: _ClassVar[DedupField]
    DEDUP_FIELD_EMAIL: _ClassVar[DedupField]
    DEDUP_FIELD_PHONE: _ClassVar[DedupField]
    DEDUP_FIELD_EXT_REF: _ClassVar[DedupField]
    DEDUP_FIELD_FIRST_NAME: _ClassVar[DedupField]
    DEDUP_FIELD_LAST_NAME: _ClassVar[DedupField]

class Conjunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONJUNCTION_UNSPECIFIED: _ClassVar[Conjunction]
    CONJUNCTION_AND: _ClassVar[Conjunction]
    CONJUNCTION_OR: _ClassVar[Conjunction]
DEDUP_FIELD_UNSPECIFIED: DedupField
DEDUP_FIELD_EMAIL: DedupField
DEDUP_FIELD_PHONE: DedupField
DEDUP_FIELD_EXT_REF: DedupField
DEDUP_FIELD_FIRST_NAME: DedupField
DEDUP_FIELD_LAST_NAME: DedupField
CONJUNCTION_UNSPECIFIED: Conjunction
CONJUNCTION_AND: Conjunction
CONJUNCTION_OR: Conjunction

class Organization(_message.Message):
    __slots__ = ("id", "name", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOrganizationRequest(_message.Message):
    __slots__ = ("name", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class CreateApiTokenRequest(_message.Message):
    __slots__ = ("organization_id", "name")
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    name: str
    def __init__(self, organization_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CreateApiTokenResponse(_message.Message):
    __slots__ = ("token_id", "token")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token: str
    def __init__(self, token_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class ResolveApiTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class ResolveApiTokenResponse(_message.Message):
    __slots__ = ("organization_id",)
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    def __init__(self, organization_id: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DedupRule(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[DedupField]
    def __init__(self, fields: _Optional[_Iterable[_Union[DedupField, str]]] = ...) -> None: ...

class Directory(_message.Message):
    __slots__ = ("id", "name", "is_default", "dedup_rules", "contact_count", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DEDUP_RULES_FIELD_NUMBER: _ClassVar[int]
    CONTACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    is_default: bool
    dedup_rules: _containers.RepeatedCompositeFieldContainer[DedupRule]
    contact_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., is_default: _Optional[bool] = ..., dedup_rules: _Optional[_Iterable[_Union[DedupRule, _Mapping]]] = ..., contact_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDirectoryRequest(_message.Message):
    __slots__ = ("name", "dedup_rules", "is_default", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEDUP_RULES_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    dedup_rules: _containers.RepeatedCompositeFieldContainer[DedupRule]
    is_default: bool
    id: str
    def __init__(self, name: _Optional[str] = ..., dedup_rules: _Optional[_Iterable[_Union[DedupRule, _Mapping]]] = ..., is_default: _Optional[bool] = ..., id: _Optional[str] = ...) -> None: ...

class GetDirectoryRequest(_message.Message):
    __slots__ = ("directory_id",)
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    def __init__(self, directory_id: _Optional[str] = ...) -> None: ...

class ListDirectoriesRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListDirectoriesResponse(_message.Message):
    __slots__ = ("directories", "next_page_token")
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    directories: _containers.RepeatedCompositeFieldContainer[Directory]
    next_page_token: str
    def __init__(self, directories: _Optional[_Iterable[_Union[Directory, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("id", "directory_id", "first_name", "last_name", "email", "phone", "ext_ref", "language", "unsubscribed", "embedded_data", "created_at", "updated_at", "mailing_list_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EXT_REF_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    EMBEDDED_DATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MAILING_LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    directory_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    ext_ref: str
    language: str
    unsubscribed: bool
    embedded_data: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    mailing_list_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., ext_ref: _Optional[str] = ..., language: _Optional[str] = ..., unsubscribed: _Optional[bool] = ..., embedded_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mailing_list_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactInput(_message.Message):
    __slots__ = ("first_name", "last_name", "email", "phone", "ext_ref", "language", "unsubscribed", "embedded_data")
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EXT_REF_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    EMBEDDED_DATA_FIELD_NUMBER: _ClassVar[int]
    first_name: str
    last_name: str
    email: str
    phone: str
    ext_ref: str
    language: str
    unsubscribed: bool
    embedded_data: _struct_pb2.Struct
    def __init__(self, first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., ext_ref: _Optional[str] = ..., language: _Optional[str] = ..., unsubscribed: _Optional[bool] = ..., embedded_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UpsertContactRequest(_message.Message):
    __slots__ = ("directory_id", "contact")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact: ContactInput
    def __init__(self, directory_id: _Optional[str] = ..., contact: _Optional[_Union[ContactInput, _Mapping]] = ...) -> None: ...

class UpsertContactResponse(_message.Message):
    __slots__ = ("contact_id", "created")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    created: bool
    def __init__(self, contact_id: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class GetContactRequest(_message.Message):
    __slots__ = ("directory_id", "contact_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact_id: str
    def __init__(self, directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class FieldFilter(_message.Message):
    __slots__ = ("field", "comparison", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    comparison: str
    value: str
    def __init__(self, field: _Optional[str] = ..., comparison: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class FilterGroup(_message.Message):
    __slots__ = ("conjunction", "filters")
    CONJUNCTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    conjunction: Conjunction
    filters: _containers.RepeatedCompositeFieldContainer[ContactFilter]
    def __init__(self, conjunction: _Optional[_Union[Conjunction, str]] = ..., filters: _Optional[_Iterable[_Union[ContactFilter, _Mapping]]] = ...) -> None: ...

class ContactFilter(_message.Message):
    __slots__ = ("field", "group")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    field: FieldFilter
    group: FilterGroup
    def __init__(self, field: _Optional[_Union[FieldFilter, _Mapping]] = ..., group: _Optional[_Union[FilterGroup, _Mapping]] = ...) -> None: ...

class SearchContactsRequest(_message.Message):
    __slots__ = ("directory_id", "filter", "page")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    filter: ContactFilter
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., filter: _Optional[_Union[ContactFilter, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SearchContactsResponse(_message.Message):
    __slots__ = ("contacts", "next_page_token")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    next_page_token: str
    def __init__(self, contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MailingList(_message.Message):
    __slots__ = ("id", "directory_id", "name", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    directory_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMailingListRequest(_message.Message):
    __slots__ = ("directory_id", "name", "id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    name: str
    id: str
    def __init__(self, directory_id: _Optional[str] = ..., name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListMailingListsRequest(_message.Message):
    __slots__ = ("directory_id", "page")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListMailingListsResponse(_message.Message):
    __slots__ = ("mailing_lists", "next_page_token")
    MAILING_LISTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mailing_lists: _containers.RepeatedCompositeFieldContainer[MailingList]
    next_page_token: str
    def __init__(self, mailing_lists: _Optional[_Iterable[_Union[MailingList, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
