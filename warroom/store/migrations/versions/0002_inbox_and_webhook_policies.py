"""inbox and webhook policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:51:13.441864
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
    sa.UniqueConstraint('source', 'key', name='uq_inbox_source_key')
    )
    op.create_table('webhook_policies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('audience', sa.String(length=255), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_policies')),
    sa.UniqueConstraint('remote_id', name=op.f('uq_webhook_policies_remote_id'))
    )



def downgrade() -> None:

    op.drop_table('webhook_policies')
    op.drop_table('inbox')

