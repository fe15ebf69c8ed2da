"""Alembic environment for the users store; runs on the connection the caller passes in."""

from alembic import context

from subgraphs.users.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
