-- Tenants, the directory (users, teams, queues, channels) and API keys.
-- Every table carries tenant_id and references other tenant rows through (tenant_id, id), so no
-- row can ever point into another tenant.

CREATE TABLE tenants (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                          text NOT NULL,
    default_region                text NOT NULL DEFAULT 'US',
    timezone                      text NOT NULL DEFAULT 'UTC',
    sms_enabled                   boolean NOT NULL DEFAULT true,
    max_direct_numbers_per_agent  integer NOT NULL DEFAULT 5,
    missed_chat_threshold         integer NOT NULL DEFAULT 2,
    unresponsive_threshold        integer NOT NULL DEFAULT 2,
    offer_timeout_seconds         integer NOT NULL DEFAULT 60,
    cooldown_seconds              integer,
    session_idle_close_seconds    integer NOT NULL DEFAULT 86400,
    help_text                     text NOT NULL DEFAULT '',
    created_at                    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT tenants_region_check CHECK (default_region ~ '^[A-Z]{2}$'),
    CONSTRAINT tenants_max_direct_check CHECK (max_direct_numbers_per_agent BETWEEN 1 AND 100),
    CONSTRAINT tenants_missed_threshold_check CHECK (missed_chat_threshold BETWEEN 1 AND 100),
    CONSTRAINT tenants_unresponsive_threshold_check CHECK (unresponsive_threshold BETWEEN 1 AND 100),
    CONSTRAINT tenants_offer_timeout_check CHECK (offer_timeout_seconds BETWEEN 5 AND 86400),
    CONSTRAINT tenants_cooldown_check CHECK (cooldown_seconds IS NULL OR cooldown_seconds BETWEEN 1 AND 86400),
    CONSTRAINT tenants_idle_close_check CHECK (session_idle_close_seconds BETWEEN 60 AND 2592000)
);

-- The tenant-wide default capacity of each channel.
CREATE TABLE tenant_channels (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel    text NOT NULL,
    capacity   integer NOT NULL,
    PRIMARY KEY (tenant_id, channel),
    CONSTRAINT tenant_channels_channel_check CHECK (channel IN ('sms', 'voice', 'whatsapp', 'messenger', 'instagram')),
    CONSTRAINT tenant_channels_capacity_check CHECK (capacity BETWEEN 1 AND 50)
);

CREATE TABLE teams (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT teams_name_key UNIQUE (tenant_id, name),
    CONSTRAINT teams_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE users (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                 uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                      text NOT NULL,
    email                     text NOT NULL,
    role                      text NOT NULL,
    extension                 text,
    personal_number           text,
    timezone                  text,
    status                    text NOT NULL DEFAULT 'offline',
    status_changed_at         timestamptz NOT NULL DEFAULT now(),
    primary_team_id           uuid,
    can_configure_deflection  boolean NOT NULL DEFAULT false,
    backup_user_id            uuid,
    backup_queue_id           uuid,
    missed_count              integer NOT NULL DEFAULT 0,
    unresponsive_count        integer NOT NULL DEFAULT 0,
    active                    boolean NOT NULL DEFAULT true,
    deactivated_at            timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'supervisor', 'agent')),
    CONSTRAINT users_status_check CHECK (status IN ('available', 'away', 'offline', 'missed_chat', 'unresponsive')),
    CONSTRAINT users_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT users_one_backup_check CHECK (backup_user_id IS NULL OR backup_queue_id IS NULL),
    CONSTRAINT users_backup_not_self_check CHECK (backup_user_id IS DISTINCT FROM id),
    CONSTRAINT users_backup_user_fkey FOREIGN KEY (tenant_id, backup_user_id) REFERENCES users (tenant_id, id)
);
-- Email is unique among a tenant's active users; a deactivated user's address can be reused.
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email)) WHERE active;

CREATE TABLE team_members (
    tenant_id  uuid NOT NULL,
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    PRIMARY KEY (team_id, user_id),
    CONSTRAINT team_members_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT team_members_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

-- A user's primary team must be one of its teams; deferred so a user and its first membership
-- can be written in one transaction.
ALTER TABLE users ADD CONSTRAINT users_primary_team_fkey
    FOREIGN KEY (primary_team_id, id) REFERENCES team_members (team_id, user_id)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE queues (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              text NOT NULL,
    kind              text NOT NULL,
    parent_id         uuid,
    personal_user_id  uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT queues_tenant_id_kind_key UNIQUE (tenant_id, id, kind),
    CONSTRAINT queues_kind_check CHECK (kind IN ('sms', 'ivr')),
    CONSTRAINT queues_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT queues_personal_sms_check CHECK (personal_user_id IS NULL OR kind = 'sms'),
    CONSTRAINT queues_parent_not_self_check CHECK (parent_id IS DISTINCT FROM id),
    CONSTRAINT queues_parent_fkey FOREIGN KEY (tenant_id, parent_id) REFERENCES queues (tenant_id, id),
    CONSTRAINT queues_personal_user_fkey FOREIGN KEY (tenant_id, personal_user_id) REFERENCES users (tenant_id, id),
    -- An agent has at most one personal queue, however many requests create it at once.
    CONSTRAINT queues_personal_user_key UNIQUE (personal_user_id)
);
CREATE INDEX queues_parent_idx ON queues (parent_id) WHERE parent_id IS NOT NULL;

ALTER TABLE users ADD CONSTRAINT users_backup_queue_fkey
    FOREIGN KEY (tenant_id, backup_queue_id) REFERENCES queues (tenant_id, id);

CREATE TABLE queue_members (
    tenant_id  uuid NOT NULL,
    queue_id   uuid NOT NULL,
    user_id    uuid,
    team_id    uuid,
    CONSTRAINT queue_members_one_kind_check CHECK ((user_id IS NULL) <> (team_id IS NULL)),
    CONSTRAINT queue_members_queue_fkey FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT queue_members_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT queue_members_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX queue_members_user_key ON queue_members (queue_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX queue_members_team_key ON queue_members (queue_id, team_id) WHERE team_id IS NOT NULL;
CREATE INDEX queue_members_user_idx ON queue_members (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX queue_members_team_idx ON queue_members (team_id) WHERE team_id IS NOT NULL;

-- A user's channel settings; a missing row means the defaults (sms and voice on, capacity
-- inherited from tenant_channels).
CREATE TABLE user_channels (
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    channel    text NOT NULL,
    enabled    boolean NOT NULL,
    capacity   integer,
    PRIMARY KEY (user_id, channel),
    CONSTRAINT user_channels_channel_check CHECK (channel IN ('sms', 'voice', 'whatsapp', 'messenger', 'instagram')),
    CONSTRAINT user_channels_capacity_check CHECK (capacity IS NULL OR capacity BETWEEN 1 AND 50),
    CONSTRAINT user_channels_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- The status timeline, for reports.
CREATE TABLE user_status_changes (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    status      text NOT NULL,
    reason      text NOT NULL,
    changed_by  uuid,
    changed_at  timestamptz NOT NULL,
    CONSTRAINT user_status_changes_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_status_changes_user_idx ON user_status_changes (user_id, changed_at);

-- API keys are stored as the SHA-256 of the key; the key itself is shown once.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    key_hash    bytea NOT NULL,
    prefix      text NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_label_check CHECK (length(label) <= 200),
    CONSTRAINT api_keys_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);
