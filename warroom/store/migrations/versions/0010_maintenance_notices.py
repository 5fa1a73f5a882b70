"""status deliveries: maintenance notices to subscribers (maintenance_id, notice, revision; update_id nullable)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a column's nullability or add a constraint in place (the table is copied,
    # its rows with it); PostgreSQL alters it.
    with op.batch_alter_table('status_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('maintenance_id', Id, nullable=True))
        batch_op.add_column(sa.Column('notice', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.alter_column('update_id', existing_type=Id, nullable=True)
        batch_op.create_foreign_key(op.f('fk_status_deliveries_maintenance_id_status_maintenances'),
                                    'status_maintenances', ['maintenance_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint('uq_status_deliveries_notice',
                                          ['subscriber_id', 'maintenance_id', 'notice', 'revision'])
        batch_op.create_index('ix_status_deliveries_maintenance', ['maintenance_id', 'notice'], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM status_deliveries WHERE update_id IS NULL")  # maintenance notices have no place before
    with op.batch_alter_table('status_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_status_deliveries_maintenance')
        batch_op.drop_constraint('uq_status_deliveries_notice', type_='unique')
        batch_op.drop_constraint(op.f('fk_status_deliveries_maintenance_id_status_maintenances'), type_='foreignkey')
        batch_op.alter_column('update_id', existing_type=Id, nullable=False)
        batch_op.drop_column('revision')
        batch_op.drop_column('notice')
        batch_op.drop_column('maintenance_id')
