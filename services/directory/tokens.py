"""API tokens in the directory's own api_tokens table: resolving a token to its organization, listing and revoking tokens."""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.directory.models import ApiToken
from services.directory.pagination import Page, PagePosition, encode_token
from services.directory.repository import OrganizationRepository, PageOf


class LocalTokenResolver:
    """A services.common.auth.TokenResolver that looks tokens up by hash in this service's database."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def resolve(self, token: str) -> str | None:
        async with self._session_factory() as session:
            return await OrganizationRepository(session).resolve_api_token(token)


class ApiTokenRepository:
    """One organization's issued tokens, as rows without their hashes; takes a session and never commits."""

    def __init__(self, session: AsyncSession, organization_id: str) -> None:
        self._session = session
        self._organization_id = organization_id

    async def list_tokens(self, page: Page) -> PageOf[ApiToken]:
        """Oldest first, keyset-paged over (created_at, id) like every other list of the directory."""
        await OrganizationRepository(self._session).get_organization(self._organization_id)
        query = select(ApiToken).where(ApiToken.organization_id == self._organization_id)
        if page.after is not None:
            query = query.where(
                or_(
                    ApiToken.created_at > page.after.created_at,
                    and_(ApiToken.created_at == page.after.created_at, ApiToken.id > page.after.id),
                )
            )
        rows = list(
            (await self._session.execute(query.order_by(ApiToken.created_at, ApiToken.id).limit(page.size + 1))).scalars()
        )
        if len(rows) <= page.size:
            return PageOf(rows, "")
        rows = rows[: page.size]
        return PageOf(rows, encode_token(PagePosition(rows[-1].created_at, rows[-1].id)))

    async def revoke(self, token_id: str) -> bool:
        """Deletes the token's row (its hash is what authenticates); False when the organization has no such token."""
        result = await self._session.execute(
            delete(ApiToken).where(ApiToken.id == token_id, ApiToken.organization_id == self._organization_id)
        )
        return bool(result.rowcount)
