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

class ListOrganizationsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListOrganizationsResponse(_message.Message):
    __slots__ = ("organizations", "next_page_token")
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    next_page_token: str
    def __init__(self, organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApiToken(_message.Message):
    __slots__ = ("id", "organization_id", "name", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    organization_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., organization_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListApiTokensRequest(_message.Message):
    __slots__ = ("organization_id", "page")
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    page: _common_pb2.PageRequest
    def __init__(self, organization_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListApiTokensResponse(_message.Message):
    __slots__ = ("tokens", "next_page_token")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[ApiToken]
    next_page_token: str
    def __init__(self, tokens: _Optional[_Iterable[_Union[ApiToken, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiTokenRequest(_message.Message):
    __slots__ = ("organization_id", "token_id")
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    organization_id: str
    token_id: str
    def __init__(self, organization_id: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class RevokeApiTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DedupRule(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[DedupField]
    def __init__(self, fields: _Optional[_Iterable[_Union[DedupField, str]]] = ...) -> None: ...

class DeduplicationCriteria(_message.Message):
    __slots__ = ("email", "first_name", "last_name", "external_data_reference", "phone")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_DATA_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    email: bool
    first_name: bool
    last_name: bool
    external_data_reference: bool
    phone: bool
    def __init__(self, email: _Optional[bool] = ..., first_name: _Optional[bool] = ..., last_name: _Optional[bool] = ..., external_data_reference: _Optional[bool] = ..., phone: _Optional[bool] = ...) -> None: ...

class Directory(_message.Message):
    __slots__ = ("id", "name", "is_default", "dedup_rules", "contact_count", "created_at", "deduplication_criteria")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DEDUP_RULES_FIELD_NUMBER: _ClassVar[int]
    CONTACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_CRITERIA_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    is_default: bool
    dedup_rules: _containers.RepeatedCompositeFieldContainer[DedupRule]
    contact_count: int
    created_at: _timestamp_pb2.Timestamp
    deduplication_criteria: DeduplicationCriteria
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., is_default: _Optional[bool] = ..., dedup_rules: _Optional[_Iterable[_Union[DedupRule, _Mapping]]] = ..., contact_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deduplication_criteria: _Optional[_Union[DeduplicationCriteria, _Mapping]] = ...) -> None: ...

class CreateDirectoryRequest(_message.Message):
    __slots__ = ("name", "dedup_rules", "is_default", "id", "deduplication_criteria")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEDUP_RULES_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_CRITERIA_FIELD_NUMBER: _ClassVar[int]
    name: str
    dedup_rules: _containers.RepeatedCompositeFieldContainer[DedupRule]
    is_default: bool
    id: str
    deduplication_criteria: DeduplicationCriteria
    def __init__(self, name: _Optional[str] = ..., dedup_rules: _Optional[_Iterable[_Union[DedupRule, _Mapping]]] = ..., is_default: _Optional[bool] = ..., id: _Optional[str] = ..., deduplication_criteria: _Optional[_Union[DeduplicationCriteria, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("id", "directory_id", "first_name", "last_name", "email", "phone", "ext_ref", "language", "unsubscribed", "embedded_data", "created_at", "updated_at", "mailing_list_ids", "segment_ids")
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
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
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
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., ext_ref: _Optional[str] = ..., language: _Optional[str] = ..., unsubscribed: _Optional[bool] = ..., embedded_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mailing_list_ids: _Optional[_Iterable[str]] = ..., segment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

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

class UpsertContactsRequest(_message.Message):
    __slots__ = ("directory_id", "contacts")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contacts: _containers.RepeatedCompositeFieldContainer[ContactInput]
    def __init__(self, directory_id: _Optional[str] = ..., contacts: _Optional[_Iterable[_Union[ContactInput, _Mapping]]] = ...) -> None: ...

class UpsertContactsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[UpsertContactResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[UpsertContactResponse, _Mapping]]] = ...) -> None: ...

class GetContactRequest(_message.Message):
    __slots__ = ("directory_id", "contact_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact_id: str
    def __init__(self, directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class UpdateContactRequest(_message.Message):
    __slots__ = ("directory_id", "contact_id", "contact")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact_id: str
    contact: ContactInput
    def __init__(self, directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., contact: _Optional[_Union[ContactInput, _Mapping]] = ...) -> None: ...

class DeleteContactRequest(_message.Message):
    __slots__ = ("directory_id", "contact_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact_id: str
    def __init__(self, directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class DeleteContactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListContactsRequest(_message.Message):
    __slots__ = ("directory_id", "page")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListContactsResponse(_message.Message):
    __slots__ = ("contacts", "next_page_token")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    next_page_token: str
    def __init__(self, contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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

class MailingListMembersRequest(_message.Message):
    __slots__ = ("directory_id", "mailing_list_id", "contact_ids")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    MAILING_LIST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    mailing_list_id: str
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, directory_id: _Optional[str] = ..., mailing_list_id: _Optional[str] = ..., contact_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MailingListMembersResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: int
    def __init__(self, changed: _Optional[int] = ...) -> None: ...

class TransactionInput(_message.Message):
    __slots__ = ("contact_id", "mailing_list_id", "transaction_date", "data")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MAILING_LIST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_DATE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    mailing_list_id: str
    transaction_date: _timestamp_pb2.Timestamp
    data: _struct_pb2.Struct
    def __init__(self, contact_id: _Optional[str] = ..., mailing_list_id: _Optional[str] = ..., transaction_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CreateTransactionsRequest(_message.Message):
    __slots__ = ("directory_id", "transactions", "idempotent")
    class TransactionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TransactionInput
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TransactionInput, _Mapping]] = ...) -> None: ...
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    transactions: _containers.MessageMap[str, TransactionInput]
    idempotent: bool
    def __init__(self, directory_id: _Optional[str] = ..., transactions: _Optional[_Mapping[str, TransactionInput]] = ..., idempotent: _Optional[bool] = ...) -> None: ...

class TransactionError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class CreateTransactionsResponse(_message.Message):
    __slots__ = ("created", "errors")
    class CreatedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ErrorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TransactionError
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TransactionError, _Mapping]] = ...) -> None: ...
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    created: _containers.ScalarMap[str, str]
    errors: _containers.MessageMap[str, TransactionError]
    def __init__(self, created: _Optional[_Mapping[str, str]] = ..., errors: _Optional[_Mapping[str, TransactionError]] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("id", "directory_id", "contact_id", "mailing_list_id", "transaction_date", "data", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MAILING_LIST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_DATE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    directory_id: str
    contact_id: str
    mailing_list_id: str
    transaction_date: _timestamp_pb2.Timestamp
    data: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., mailing_list_id: _Optional[str] = ..., transaction_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("directory_id", "contact_id", "start_date", "end_date", "data_equals", "page")
    class DataEqualsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    DATA_EQUALS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    contact_id: str
    start_date: _timestamp_pb2.Timestamp
    end_date: _timestamp_pb2.Timestamp
    data_equals: _containers.ScalarMap[str, str]
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., start_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_equals: _Optional[_Mapping[str, str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("id", "directory_id", "name", "description", "rule", "member_count", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    directory_id: str
    name: str
    description: str
    rule: _struct_pb2.Struct
    member_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., member_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("directory_id", "name", "description", "rule", "id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    name: str
    description: str
    rule: _struct_pb2.Struct
    id: str
    def __init__(self, directory_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class UpdateSegmentRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id", "name", "description", "rule")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    name: str
    description: str
    rule: _struct_pb2.Struct
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("directory_id", "page")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSegmentRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class DeleteSegmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSegmentMembersRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id", "page")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    page: _common_pb2.PageRequest
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SegmentMember(_message.Message):
    __slots__ = ("contact_id", "member_since")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_SINCE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    member_since: _timestamp_pb2.Timestamp
    def __init__(self, contact_id: _Optional[str] = ..., member_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSegmentMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[SegmentMember]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[SegmentMember, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SegmentOptRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id", "contact_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    contact_id: str
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class SegmentMembership(_message.Message):
    __slots__ = ("segment_id", "contact_id", "member", "opted_out")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    contact_id: str
    member: bool
    opted_out: bool
    def __init__(self, segment_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., member: _Optional[bool] = ..., opted_out: _Optional[bool] = ...) -> None: ...

class ExplainMembershipRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id", "contact_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    contact_id: str
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class RuleExplanation(_message.Message):
    __slots__ = ("path", "description", "value", "held", "children")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    path: str
    description: str
    value: _struct_pb2.Value
    held: bool
    children: _containers.RepeatedCompositeFieldContainer[RuleExplanation]
    def __init__(self, path: _Optional[str] = ..., description: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., held: _Optional[bool] = ..., children: _Optional[_Iterable[_Union[RuleExplanation, _Mapping]]] = ...) -> None: ...

class ExplainMembershipResponse(_message.Message):
    __slots__ = ("member", "opted_out", "rule_holds", "rule")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    RULE_HOLDS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    member: bool
    opted_out: bool
    rule_holds: bool
    rule: RuleExplanation
    def __init__(self, member: _Optional[bool] = ..., opted_out: _Optional[bool] = ..., rule_holds: _Optional[bool] = ..., rule: _Optional[_Union[RuleExplanation, _Mapping]] = ...) -> None: ...

class RefreshSegmentsRequest(_message.Message):
    __slots__ = ("directory_id", "segment_id")
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    directory_id: str
    segment_id: str
    def __init__(self, directory_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class RefreshSegmentsResponse(_message.Message):
    __slots__ = ("segments", "added", "removed", "members")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    segments: int
    added: int
    removed: int
    members: int
    def __init__(self, segments: _Optional[int] = ..., added: _Optional[int] = ..., removed: _Optional[int] = ..., members: _Optional[int] = ...) -> None: ...
