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

class SegmentCallType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEGMENT_CALL_TYPE_UNSPECIFIED: _ClassVar[SegmentCallType]
    SEGMENT_CALL_TYPE_IDENTIFY: _ClassVar[SegmentCallType]
    SEGMENT_CALL_TYPE_TRACK: _ClassVar[SegmentCallType]

class TicketProvider(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_PROVIDER_UNSPECIFIED: _ClassVar[TicketProvider]
    TICKET_PROVIDER_OWN: _ClassVar[TicketProvider]
    TICKET_PROVIDER_ZENDESK: _ClassVar[TicketProvider]
    TICKET_PROVIDER_FRESHDESK: _ClassVar[TicketProvider]

class TicketPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_PRIORITY_UNSPECIFIED: _ClassVar[TicketPriority]
    TICKET_PRIORITY_LOW: _ClassVar[TicketPriority]
    TICKET_PRIORITY_NORMAL: _ClassVar[TicketPriority]
    TICKET_PRIORITY_HIGH: _ClassVar[TicketPriority]
    TICKET_PRIORITY_URGENT: _ClassVar[TicketPriority]

class TicketStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATUS_UNSPECIFIED: _ClassVar[TicketStatus]
    TICKET_STATUS_OPEN: _ClassVar[TicketStatus]
    TICKET_STATUS_IN_PROGRESS: _ClassVar[TicketStatus]
    TICKET_STATUS_ON_HOLD: _ClassVar[TicketStatus]
    TICKET_STATUS_CLOSED: _ClassVar[TicketStatus]
SEGMENT_CALL_TYPE_UNSPECIFIED: SegmentCallType
SEGMENT_CALL_TYPE_IDENTIFY: SegmentCallType
SEGMENT_CALL_TYPE_TRACK: SegmentCallType
TICKET_PROVIDER_UNSPECIFIED: TicketProvider
TICKET_PROVIDER_OWN: TicketProvider
TICKET_PROVIDER_ZENDESK: TicketProvider
TICKET_PROVIDER_FRESHDESK: TicketProvider
TICKET_PRIORITY_UNSPECIFIED: TicketPriority
TICKET_PRIORITY_LOW: TicketPriority
TICKET_PRIORITY_NORMAL: TicketPriority
TICKET_PRIORITY_HIGH: TicketPriority
TICKET_PRIORITY_URGENT: TicketPriority
TICKET_STATUS_UNSPECIFIED: TicketStatus
TICKET_STATUS_OPEN: TicketStatus
TICKET_STATUS_IN_PROGRESS: TicketStatus
TICKET_STATUS_ON_HOLD: TicketStatus
TICKET_STATUS_CLOSED: TicketStatus

class SendEmailRequest(_message.Message):
    __slots__ = ("idempotency_key", "from_address", "to", "cc", "subject", "text_body", "html_body")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    FROM_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    CC_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    from_address: str
    to: _containers.RepeatedScalarFieldContainer[str]
    cc: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    text_body: str
    html_body: str
    def __init__(self, idempotency_key: _Optional[str] = ..., from_address: _Optional[str] = ..., to: _Optional[_Iterable[str]] = ..., cc: _Optional[_Iterable[str]] = ..., subject: _Optional[str] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ...) -> None: ...

class SendEmailResponse(_message.Message):
    __slots__ = ("message_id", "duplicate")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    duplicate: bool
    def __init__(self, message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SendSlackRequest(_message.Message):
    __slots__ = ("idempotency_key", "webhook_name", "text", "blocks")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    webhook_name: str
    text: str
    blocks: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, idempotency_key: _Optional[str] = ..., webhook_name: _Optional[str] = ..., text: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

class SendSlackResponse(_message.Message):
    __slots__ = ("duplicate", "status_code", "response_body")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    status_code: int
    response_body: str
    def __init__(self, duplicate: _Optional[bool] = ..., status_code: _Optional[int] = ..., response_body: _Optional[str] = ...) -> None: ...

class SendWebhookRequest(_message.Message):
    __slots__ = ("idempotency_key", "url", "body", "timeout_seconds")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    url: str
    body: _struct_pb2.Struct
    timeout_seconds: int
    def __init__(self, idempotency_key: _Optional[str] = ..., url: _Optional[str] = ..., body: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class SendWebhookResponse(_message.Message):
    __slots__ = ("duplicate", "status_code", "response_body")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    status_code: int
    response_body: str
    def __init__(self, duplicate: _Optional[bool] = ..., status_code: _Optional[int] = ..., response_body: _Optional[str] = ...) -> None: ...

class SendSegmentEventRequest(_message.Message):
    __slots__ = ("idempotency_key", "write_key_name", "type", "user_id", "event", "traits", "properties", "anonymous_id")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    WRITE_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    write_key_name: str
    type: SegmentCallType
    user_id: str
    event: str
    traits: _struct_pb2.Struct
    properties: _struct_pb2.Struct
    anonymous_id: str
    def __init__(self, idempotency_key: _Optional[str] = ..., write_key_name: _Optional[str] = ..., type: _Optional[_Union[SegmentCallType, str]] = ..., user_id: _Optional[str] = ..., event: _Optional[str] = ..., traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., anonymous_id: _Optional[str] = ...) -> None: ...

class SendSegmentEventResponse(_message.Message):
    __slots__ = ("duplicate", "status_code", "message_id")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    status_code: int
    message_id: str
    def __init__(self, duplicate: _Optional[bool] = ..., status_code: _Optional[int] = ..., message_id: _Optional[str] = ...) -> None: ...

class TicketComment(_message.Message):
    __slots__ = ("id", "author", "body", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    author: str
    body: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., author: _Optional[str] = ..., body: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("id", "provider", "external_id", "external_url", "title", "description", "priority", "status", "owner", "contact_id", "requester_name", "requester_email", "tags", "custom_fields", "comments", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: TicketProvider
    external_id: str
    external_url: str
    title: str
    description: str
    priority: TicketPriority
    status: TicketStatus
    owner: str
    contact_id: str
    requester_name: str
    requester_email: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    custom_fields: _struct_pb2.Struct
    comments: _containers.RepeatedCompositeFieldContainer[TicketComment]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[_Union[TicketProvider, str]] = ..., external_id: _Optional[str] = ..., external_url: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., owner: _Optional[str] = ..., contact_id: _Optional[str] = ..., requester_name: _Optional[str] = ..., requester_email: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., comments: _Optional[_Iterable[_Union[TicketComment, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTicketRequest(_message.Message):
    __slots__ = ("idempotency_key", "provider", "title", "description", "priority", "status", "owner", "contact_id", "requester_name", "requester_email", "tags", "custom_fields")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    provider: TicketProvider
    title: str
    description: str
    priority: TicketPriority
    status: TicketStatus
    owner: str
    contact_id: str
    requester_name: str
    requester_email: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    custom_fields: _struct_pb2.Struct
    def __init__(self, idempotency_key: _Optional[str] = ..., provider: _Optional[_Union[TicketProvider, str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., owner: _Optional[str] = ..., contact_id: _Optional[str] = ..., requester_name: _Optional[str] = ..., requester_email: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CreateTicketResponse(_message.Message):
    __slots__ = ("ticket", "duplicate")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    duplicate: bool
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("status", "owner", "contact_id", "page")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    status: TicketStatus
    owner: str
    contact_id: str
    page: _common_pb2.PageRequest
    def __init__(self, status: _Optional[_Union[TicketStatus, str]] = ..., owner: _Optional[str] = ..., contact_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[Ticket]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[Ticket, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "title", "description", "priority", "status", "owner", "tags", "custom_fields")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    title: str
    description: str
    priority: TicketPriority
    status: TicketStatus
    owner: str
    tags: StringList
    custom_fields: _struct_pb2.Struct
    def __init__(self, ticket_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., owner: _Optional[str] = ..., tags: _Optional[_Union[StringList, _Mapping]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AddTicketCommentRequest(_message.Message):
    __slots__ = ("ticket_id", "body", "author", "idempotency_key")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    body: str
    author: str
    idempotency_key: str
    def __init__(self, ticket_id: _Optional[str] = ..., body: _Optional[str] = ..., author: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class Survey(_message.Message):
    __slots__ = ("id", "name", "url_template", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    url_template: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., url_template: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSurveyRequest(_message.Message):
    __slots__ = ("name", "url_template")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    url_template: str
    def __init__(self, name: _Optional[str] = ..., url_template: _Optional[str] = ...) -> None: ...

class GetSurveyRequest(_message.Message):
    __slots__ = ("survey_id",)
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    survey_id: str
    def __init__(self, survey_id: _Optional[str] = ...) -> None: ...

class ListSurveysRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSurveysResponse(_message.Message):
    __slots__ = ("surveys", "next_page_token")
    SURVEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    surveys: _containers.RepeatedCompositeFieldContainer[Survey]
    next_page_token: str
    def __init__(self, surveys: _Optional[_Iterable[_Union[Survey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSurveyRequest(_message.Message):
    __slots__ = ("survey_id", "name", "url_template")
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    survey_id: str
    name: str
    url_template: str
    def __init__(self, survey_id: _Optional[str] = ..., name: _Optional[str] = ..., url_template: _Optional[str] = ...) -> None: ...

class DeleteSurveyRequest(_message.Message):
    __slots__ = ("survey_id",)
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    survey_id: str
    def __init__(self, survey_id: _Optional[str] = ...) -> None: ...

class DeleteSurveyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DistributeSurveyRequest(_message.Message):
    __slots__ = ("idempotency_key", "survey_id", "contact_id", "email", "first_name", "last_name", "run_id", "from_address", "subject", "text_template", "html_template", "expires_in_seconds")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    HTML_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    survey_id: str
    contact_id: str
    email: str
    first_name: str
    last_name: str
    run_id: str
    from_address: str
    subject: str
    text_template: str
    html_template: str
    expires_in_seconds: int
    def __init__(self, idempotency_key: _Optional[str] = ..., survey_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., email: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., run_id: _Optional[str] = ..., from_address: _Optional[str] = ..., subject: _Optional[str] = ..., text_template: _Optional[str] = ..., html_template: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class SurveyDistribution(_message.Message):
    __slots__ = ("id", "survey_id", "contact_id", "run_id", "email", "link", "sent_at", "opened_at", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    survey_id: str
    contact_id: str
    run_id: str
    email: str
    link: str
    sent_at: _timestamp_pb2.Timestamp
    opened_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., survey_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., run_id: _Optional[str] = ..., email: _Optional[str] = ..., link: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DistributeSurveyResponse(_message.Message):
    __slots__ = ("distribution", "message_id", "duplicate")
    DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    distribution: SurveyDistribution
    message_id: str
    duplicate: bool
    def __init__(self, distribution: _Optional[_Union[SurveyDistribution, _Mapping]] = ..., message_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListSurveyDistributionsRequest(_message.Message):
    __slots__ = ("survey_id", "contact_id", "page")
    SURVEY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    survey_id: str
    contact_id: str
    page: _common_pb2.PageRequest
    def __init__(self, survey_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSurveyDistributionsResponse(_message.Message):
    __slots__ = ("distributions", "next_page_token")
    DISTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    distributions: _containers.RepeatedCompositeFieldContainer[SurveyDistribution]
    next_page_token: str
    def __init__(self, distributions: _Optional[_Iterable[_Union[SurveyDistribution, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SmtpSettings(_message.Message):
    __slots__ = ("host", "port", "starttls", "tls", "username", "password", "default_from")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STARTTLS_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FROM_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    starttls: bool
    tls: bool
    username: str
    password: str
    default_from: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., starttls: _Optional[bool] = ..., tls: _Optional[bool] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., default_from: _Optional[str] = ...) -> None: ...

class ZendeskSettings(_message.Message):
    __slots__ = ("base_url", "email", "api_token")
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    email: str
    api_token: str
    def __init__(self, base_url: _Optional[str] = ..., email: _Optional[str] = ..., api_token: _Optional[str] = ...) -> None: ...

class FreshdeskSettings(_message.Message):
    __slots__ = ("base_url", "api_key")
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    api_key: str
    def __init__(self, base_url: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class UpdateChannelSettingsRequest(_message.Message):
    __slots__ = ("smtp", "slack_webhooks", "zendesk", "freshdesk", "webhook_secret", "outbound_allow_list", "segment_write_keys", "segment_endpoint", "clear")
    class SlackWebhooksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SegmentWriteKeysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SMTP_FIELD_NUMBER: _ClassVar[int]
    SLACK_WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    ZENDESK_FIELD_NUMBER: _ClassVar[int]
    FRESHDESK_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_ALLOW_LIST_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_WRITE_KEYS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    smtp: SmtpSettings
    slack_webhooks: _containers.ScalarMap[str, str]
    zendesk: ZendeskSettings
    freshdesk: FreshdeskSettings
    webhook_secret: str
    outbound_allow_list: StringList
    segment_write_keys: _containers.ScalarMap[str, str]
    segment_endpoint: str
    clear: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, smtp: _Optional[_Union[SmtpSettings, _Mapping]] = ..., slack_webhooks: _Optional[_Mapping[str, str]] = ..., zendesk: _Optional[_Union[ZendeskSettings, _Mapping]] = ..., freshdesk: _Optional[_Union[FreshdeskSettings, _Mapping]] = ..., webhook_secret: _Optional[str] = ..., outbound_allow_list: _Optional[_Union[StringList, _Mapping]] = ..., segment_write_keys: _Optional[_Mapping[str, str]] = ..., segment_endpoint: _Optional[str] = ..., clear: _Optional[_Iterable[str]] = ...) -> None: ...

class GetChannelSettingsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChannelSettingsSummary(_message.Message):
    __slots__ = ("smtp_configured", "slack_webhook_names", "zendesk_configured", "freshdesk_configured", "webhook_secret_configured", "outbound_allow_list", "segment_write_key_names", "segment_endpoint")
    SMTP_CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    SLACK_WEBHOOK_NAMES_FIELD_NUMBER: _ClassVar[int]
    ZENDESK_CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    FRESHDESK_CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_ALLOW_LIST_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_WRITE_KEY_NAMES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    smtp_configured: bool
    slack_webhook_names: _containers.RepeatedScalarFieldContainer[str]
    zendesk_configured: bool
    freshdesk_configured: bool
    webhook_secret_configured: bool
    outbound_allow_list: _containers.RepeatedScalarFieldContainer[str]
    segment_write_key_names: _containers.RepeatedScalarFieldContainer[str]
    segment_endpoint: str
    def __init__(self, smtp_configured: _Optional[bool] = ..., slack_webhook_names: _Optional[_Iterable[str]] = ..., zendesk_configured: _Optional[bool] = ..., freshdesk_configured: _Optional[bool] = ..., webhook_secret_configured: _Optional[bool] = ..., outbound_allow_list: _Optional[_Iterable[str]] = ..., segment_write_key_names: _Optional[_Iterable[str]] = ..., segment_endpoint: _Optional[str] = ...) -> None: ...
