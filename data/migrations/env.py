"""Alembic environment: online migrations against the URL set by data.db.alembic_config."""

from alembic import context
from sqlalchemy import create_engine, pool

from data.models import Base


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # PostGIS owns these tables; never let autogenerate drop them.
    return not (type_ == "table" and name in {"spatial_ref_sys"})


def run() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=Base.metadata, include_object=_include
        )
        with context.begin_transaction():
            context.run_migrations()


run()
