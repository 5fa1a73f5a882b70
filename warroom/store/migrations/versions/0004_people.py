"""people: chat users' display names

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 12:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('people',
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_people'))
    )


def downgrade() -> None:
    op.drop_table('people')
