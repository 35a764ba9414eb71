"""Directory activities over gRPC: LoadContactDetails finds a run's contact; AddToMailingList and
UpdateContactField act on it (both idempotent: a repeat changes nothing more)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from google.protobuf import json_format, struct_pb2
from temporalio import activity
from temporalio.exceptions import ApplicationError

from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.contact_fields import CONTACT_INPUT_FIELDS
from workflows.activities.grpc_errors import application_error_from_rpc
from workflows.contracts import ContactRef

log = structlog.get_logger(__name__)

# The contact fields a run may look its contact up by (directory FieldFilter names).
LOOKUP_FIELDS = frozenset({"extRef", "email", "phone"})

CONTACT_NOT_FOUND = "ContactNotFound"
AMBIGUOUS_CONTACT = "AmbiguousContact"

_CALL_TIMEOUT_SECONDS = 8.0  # below the workflow's 10 s start-to-close, so the activity reports the real error


@dataclass(frozen=True)
class LoadContactInput:
    organization_id: str
    contact: ContactRef


@dataclass(frozen=True)
class ContactDetails:
    id: str
    directory_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    ext_ref: str = ""
    language: str = ""
    unsubscribed: bool = False
    embedded_data: dict[str, Any] = field(default_factory=dict)
    mailing_list_ids: list[str] = field(default_factory=list)
    segment_ids: list[str] = field(default_factory=list)

    def as_template_context(self) -> dict[str, Any]:
        """The `contact` templates see, with the directory API's camelCase names.

        Empty text fields are left out, so `{{ contact.firstName }}` on a contact without a first
        name is reported as a missing value (and `| default("there")` applies).
        """
        optional_text = {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "extRef": self.ext_ref,
            "language": self.language,
        }
        return {
            "id": self.id,
            "directoryId": self.directory_id,
            **{name: value for name, value in optional_text.items() if value},
            "unsubscribed": self.unsubscribed,
            "embeddedData": dict(self.embedded_data),
            "mailingListIds": list(self.mailing_list_ids),
            "segmentIds": list(self.segment_ids),
        }


def _plain_number(value: Any) -> Any:
    # protobuf Struct stores every number as a double; 3 should read "3" in an email, not "3.0".
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def contact_details_from_proto(contact: directory_pb2.Contact) -> ContactDetails:
    embedded = json_format.MessageToDict(contact.embedded_data) if contact.HasField("embedded_data") else {}
    return ContactDetails(
        id=contact.id,
        directory_id=contact.directory_id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        phone=contact.phone,
        ext_ref=contact.ext_ref,
        language=contact.language,
        unsubscribed=contact.unsubscribed,
        embedded_data={key: _plain_number(value) for key, value in embedded.items()},
        mailing_list_ids=list(contact.mailing_list_ids),
        segment_ids=list(contact.segment_ids),
    )


@dataclass(frozen=True)
class AddToMailingListInput:
    organization_id: str
    directory_id: str
    mailing_list_id: str
    contact_id: str


@dataclass(frozen=True)
class AddToMailingListOutput:
    changed: int  # 0 when the contact was on the list already


@dataclass(frozen=True)
class UpdateContactFieldInput:
    organization_id: str
    directory_id: str
    contact_id: str
    field: str  # firstName | lastName | email | phone | extRef | language | embeddedData.<key>
    value: str


@dataclass(frozen=True)
class UpdateContactFieldOutput:
    contact_id: str
    field: str
    value: str




def contact_input_for(field_name: str, value: str) -> directory_pb2.ContactInput:
    """The partial ContactInput that sets one field (embedded data keys are merged, so others stay)."""
    if field_name.startswith("embeddedData."):
        embedded = struct_pb2.Struct()
        embedded.update({field_name.removeprefix("embeddedData."): value})
        return directory_pb2.ContactInput(embedded_data=embedded)
    if field_name not in CONTACT_INPUT_FIELDS:
        raise ApplicationError(f"cannot update contact field {field_name!r}", type="InvalidContactField", non_retryable=True)
    return directory_pb2.ContactInput(**{CONTACT_INPUT_FIELDS[field_name]: value})


class DirectoryActivities:
    """Activities that read the directory; the stub and the internal token are injected by the worker."""

    def __init__(self, stub: directory_pb2_grpc.DirectoryServiceStub, internal_token: str) -> None:
        self._stub = stub
        self._internal_token = internal_token

    @activity.defn(name="LoadContactDetails")
    async def load_contact_details(self, input: LoadContactInput) -> ContactDetails:
        ref = input.contact
        metadata = internal_metadata(self._internal_token, input.organization_id)
        if ref.contact_id:
            contact = await self._get_contact(ref, metadata)
        else:
            contact = await self._find_contact(ref, metadata)
        log.info("contact.loaded", org=input.organization_id, directory_id=ref.directory_id, contact_id=contact.id)
        return contact_details_from_proto(contact)

    async def _get_contact(self, ref: ContactRef, metadata: Any) -> directory_pb2.Contact:
        try:
            return await self._stub.GetContact(
                directory_pb2.GetContactRequest(directory_id=ref.directory_id, contact_id=ref.contact_id),
                metadata=metadata,
                timeout=_CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise ApplicationError(
                    f"no contact {ref.contact_id} in directory {ref.directory_id}", type=CONTACT_NOT_FOUND, non_retryable=True
                ) from None
            raise application_error_from_rpc(exc, call="GetContact") from None

    async def _find_contact(self, ref: ContactRef, metadata: Any) -> directory_pb2.Contact:
        if ref.lookup_field not in LOOKUP_FIELDS:
            raise ApplicationError(
                f"cannot look contacts up by {ref.lookup_field!r}; use one of {sorted(LOOKUP_FIELDS)}",
                type="InvalidContactLookup",
                non_retryable=True,
            )
        if not ref.lookup_value:
            raise ApplicationError(
                f"the event gave no {ref.lookup_field} to look the contact up by", type=CONTACT_NOT_FOUND, non_retryable=True
            )
        request = directory_pb2.SearchContactsRequest(
            directory_id=ref.directory_id,
            filter=directory_pb2.ContactFilter(
                field=directory_pb2.FieldFilter(field=ref.lookup_field, comparison="eq", value=ref.lookup_value)
            ),
            page=common_pb2.PageRequest(page_size=2),  # two are enough to tell "ambiguous"
        )
        try:
            reply = await self._stub.SearchContacts(request, metadata=metadata, timeout=_CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # the directory itself is unknown
                raise ApplicationError(
                    f"no directory {ref.directory_id}", type=CONTACT_NOT_FOUND, non_retryable=True
                ) from None
            raise application_error_from_rpc(exc, call="SearchContacts") from None
        if not reply.contacts:
            raise ApplicationError(
                f"no contact with {ref.lookup_field} {ref.lookup_value!r} in directory {ref.directory_id}",
                type=CONTACT_NOT_FOUND,
                non_retryable=True,
            )
        if len(reply.contacts) > 1 or reply.next_page_token:
            raise ApplicationError(
                f"more than one contact has {ref.lookup_field} {ref.lookup_value!r} in directory {ref.directory_id}",
                type=AMBIGUOUS_CONTACT,
                non_retryable=True,
            )
        return reply.contacts[0]

    @activity.defn(name="AddToMailingList")
    async def add_to_mailing_list(self, input: AddToMailingListInput) -> AddToMailingListOutput:
        try:
            reply = await self._stub.AddMailingListMembers(
                directory_pb2.MailingListMembersRequest(
                    directory_id=input.directory_id, mailing_list_id=input.mailing_list_id, contact_ids=[input.contact_id]
                ),
                metadata=internal_metadata(self._internal_token, input.organization_id),
                timeout=_CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise application_error_from_rpc(exc, call="AddMailingListMembers") from None
        log.info("mailing_list.member_added", org=input.organization_id, mailing_list_id=input.mailing_list_id, changed=reply.changed)
        return AddToMailingListOutput(changed=reply.changed)

    @activity.defn(name="UpdateContactField")
    async def update_contact_field(self, input: UpdateContactFieldInput) -> UpdateContactFieldOutput:
        try:
            contact = await self._stub.UpdateContact(
                directory_pb2.UpdateContactRequest(
                    directory_id=input.directory_id,
                    contact_id=input.contact_id,
                    contact=contact_input_for(input.field, input.value),
                ),
                metadata=internal_metadata(self._internal_token, input.organization_id),
                timeout=_CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise application_error_from_rpc(exc, call="UpdateContact") from None
        log.info("contact.field_updated", org=input.organization_id, contact_id=contact.id, field=input.field)
        return UpdateContactFieldOutput(contact_id=contact.id, field=input.field, value=input.value)
