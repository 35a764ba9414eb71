"""Resolves API tokens against the directory's own api_tokens table (the directory is where tokens live)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.directory.repository import OrganizationRepository


class LocalTokenResolver:
    """A services.common.auth.TokenResolver that looks tokens up by hash in this service's database."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def resolve(self, token: str) -> str | None:
        async with self._session_factory() as session:
            return await OrganizationRepository(session).resolve_api_token(token)
