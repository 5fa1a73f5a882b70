"""tasks as RFCs, task notes, the postmortem review

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 15:09:08.270798
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

def upgrade() -> None:

    op.create_table('postmortem_comments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_postmortem_comments_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postmortem_comments'))
    )
    with op.batch_alter_table('postmortem_comments', schema=None) as batch_op:
        batch_op.create_index('ix_postmortem_comments_incident', ['incident_id'], unique=False)

    op.create_table('postmortem_reviewers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reviewer', sa.String(length=320), nullable=False),
    sa.Column('display', sa.String(length=255), nullable=False),
    sa.Column('requested_by', sa.String(length=320), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_postmortem_reviewers_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postmortem_reviewers')),
    sa.UniqueConstraint('incident_id', 'reviewer', name='uq_postmortem_reviewers_reviewer')
    )
    op.create_table('postmortem_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('published_by', sa.String(length=320), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_postmortem_versions_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postmortem_versions')),
    sa.UniqueConstraint('incident_id', 'version', name='uq_postmortem_versions_version')
    )
    op.create_table('task_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('remote_id', sa.String(length=255), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_links_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_links')),
    sa.UniqueConstraint('remote_id', name=op.f('uq_task_links_remote_id')),
    sa.UniqueConstraint('task_id', name=op.f('uq_task_links_task_id'))
    )
    op.create_table('task_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=True),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_notes_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_notes')),
    sa.UniqueConstraint('task_id', 'remote_id', name='uq_task_notes_remote')
    )
    with op.batch_alter_table('task_notes', schema=None) as batch_op:
        batch_op.create_index('ix_task_notes_task', ['task_id'], unique=False)

    with op.batch_alter_table('postmortems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='draft'))

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.String(length=500), type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column('owner', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_tasks_status_due', ['status', 'due_at'], unique=False)

    with op.batch_alter_table('timeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hidden', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=True))

    # a task a person accepted was "open"; its status is now the RFC table's "To Do"
    op.execute("UPDATE tasks SET status = 'todo' WHERE status = 'open'")

def downgrade() -> None:

    op.execute("UPDATE tasks SET status = 'open' WHERE status IN ('todo', 'in_progress')")
    with op.batch_alter_table('timeline', schema=None) as batch_op:
        batch_op.drop_column('corrected_at')
        batch_op.drop_column('hidden')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.Text(), type_=sa.String(length=500), existing_nullable=False)
        batch_op.drop_index('ix_tasks_status_due')
        batch_op.drop_column('version')
        batch_op.drop_column('closed_reason')
        batch_op.drop_column('due_at')
        batch_op.drop_column('owner')

    with op.batch_alter_table('postmortems', schema=None) as batch_op:
        batch_op.drop_column('state')

    with op.batch_alter_table('task_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_task_notes_task')

    op.drop_table('task_notes')
    op.drop_table('task_links')
    op.drop_table('postmortem_versions')
    op.drop_table('postmortem_reviewers')
    with op.batch_alter_table('postmortem_comments', schema=None) as batch_op:
        batch_op.drop_index('ix_postmortem_comments_incident')

    op.drop_table('postmortem_comments')

