"""Persistence: SQLAlchemy models, sessions, Alembic migrations, records.

SQLite (WAL, foreign keys on) by default; PostgreSQL via ``DECIDUA_DATABASE_URL``.
"""
