"""Alembic environment of the directory's database."""
from services.common.migrations import run_env
from services.directory.models import Base

run_env(Base.metadata)
