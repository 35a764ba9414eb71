"""Alembic environment of the ingestion database."""
from services.common.migrations import run_env
from services.ingestion.models import Base

run_env(Base.metadata)
