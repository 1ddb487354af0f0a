"""Alembic environment: migrations always run on a connection Blobhouse hands in.

``SqlStore.open`` runs them inside its own write transaction, so several server processes
starting at once upgrade the schema exactly once.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
