"""status pages: component history, page incidents and their updates

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 15:55:02.259003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_component_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('page', sa.String(length=63), nullable=False),
    sa.Column('component', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_status_component_history_incident_id_incidents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_component_history'))
    )
    with op.batch_alter_table('status_component_history', schema=None) as batch_op:
        batch_op.create_index('ix_status_component_history_page', ['page', 'component', 'ended_at'], unique=False)

    op.create_table('status_page_incidents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('page', sa.String(length=63), nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_status_page_incidents_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_page_incidents')),
    sa.UniqueConstraint('page', 'incident_id', name='uq_status_page_incidents_incident')
    )
    op.create_table('status_page_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('page_incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['page_incident_id'], ['status_page_incidents.id'], name=op.f('fk_status_page_updates_page_incident_id_status_page_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_page_updates'))
    )
    with op.batch_alter_table('status_page_updates', schema=None) as batch_op:
        batch_op.create_index('ix_status_page_updates_incident', ['page_incident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('status_page_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_status_page_updates_incident')

    op.drop_table('status_page_updates')
    op.drop_table('status_page_incidents')
    with op.batch_alter_table('status_component_history', schema=None) as batch_op:
        batch_op.drop_index('ix_status_component_history_page')

    op.drop_table('status_component_history')
