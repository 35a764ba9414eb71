"""The directory's domain errors; the shared gRPC interceptor maps their base classes to statuses."""

from __future__ import annotations

from services.common.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable


class InvalidDirectoryRequest(InvalidArgument):
    """A request field the directory cannot accept; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class OrganizationNotFound(NotFound):
    def __init__(self, organization_id: str) -> None:
        super().__init__(f"organization {organization_id} not found", field="organization_id")


class ApiTokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("API token not found", field="token")


class DirectoryNotFound(NotFound):
    def __init__(self, directory_id: str) -> None:
        super().__init__(f"directory {directory_id} not found", field="directory_id")


class ContactNotFound(NotFound):
    def __init__(self, contact_id: str) -> None:
        super().__init__(f"contact {contact_id} not found", field="contact_id")


class DirectoryIdTaken(AlreadyExists):
    def __init__(self, directory_id: str) -> None:
        super().__init__(f"directory id {directory_id} is already in use", field="id")


class MailingListIdTaken(AlreadyExists):
    def __init__(self, mailing_list_id: str) -> None:
        super().__init__(f"mailing list id {mailing_list_id} is already in use", field="id")


class WriteConflict(Unavailable):
    """Concurrent writers kept colliding on the same identity; the caller may retry."""

    def __init__(self) -> None:
        super().__init__("the write kept conflicting with concurrent writes; retry")


class MailingListNotFound(NotFound):
    def __init__(self, mailing_list_id: str) -> None:
        super().__init__(f"mailing list {mailing_list_id} not found", field="mailing_list_id")


class SegmentNotFound(NotFound):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment {segment_id} not found", field="segment_id")


class SegmentIdTaken(AlreadyExists):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment id {segment_id} is already in use", field="id")
