"""changes: their kind (deploy, config, feature_flag, dns, infrastructure, database, rfc, other)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='deploy', nullable=False))
    # Changes from the ITSM were RFCs before kinds existed.
    op.execute("UPDATE changes SET kind = 'rfc' WHERE source = 'itsm-rfc'")


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_column('kind')
