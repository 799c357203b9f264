-- Directory rules on top of 0001: the shapes of stored profile values, and the uniqueness an
-- administrator expects (one extension per active user, one name per shared queue).

ALTER TABLE users
    ADD CONSTRAINT users_email_check CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    ADD CONSTRAINT users_extension_check CHECK (extension IS NULL OR extension ~ '^[0-9]{1,8}$'),
    ADD CONSTRAINT users_personal_number_check CHECK (personal_number IS NULL OR personal_number ~ '^\+[1-9][0-9]{6,14}$'),
    ADD CONSTRAINT users_inactive_check CHECK (active OR deactivated_at IS NOT NULL),
    -- With users_primary_team_fkey this makes every active user a member of at least one team.
    ADD CONSTRAINT users_primary_team_check CHECK (NOT active OR primary_team_id IS NOT NULL);

-- An extension is dialled to reach one person, so two active users cannot share it.
CREATE UNIQUE INDEX users_extension_key ON users (tenant_id, extension) WHERE active AND extension IS NOT NULL;

-- Shared queues are found by name (the demo seed, admins' tools); personal queues are named after
-- their agent, and two agents may share a name, so they are left out.
CREATE UNIQUE INDEX queues_name_key ON queues (tenant_id, lower(name)) WHERE personal_user_id IS NULL;

ALTER TABLE user_status_changes
    ADD CONSTRAINT user_status_changes_status_check CHECK (status IN ('available', 'away', 'offline', 'missed_chat', 'unresponsive')),
    ADD CONSTRAINT user_status_changes_reason_check CHECK (length(reason) BETWEEN 1 AND 200),
    ADD CONSTRAINT user_status_changes_changed_by_fkey FOREIGN KEY (tenant_id, changed_by) REFERENCES users (tenant_id, id);

-- Reports read a tenant's timeline by time.
CREATE INDEX user_status_changes_tenant_idx ON user_status_changes (tenant_id, changed_at);
