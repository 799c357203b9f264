-- Contacts, sessions, messages, offers and the per-user event stream: the tables inbound routing,
-- outbound sending, reporting and the real-time stream share. Numbers are referenced by their
-- E.164 text (the inventory row may later be deleted; the history keeps the number it was on).

CREATE TABLE contacts (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    address               text NOT NULL,
    kind                  text NOT NULL,
    opted_out             boolean NOT NULL DEFAULT false,
    opted_out_at          timestamptz,
    opted_in_at           timestamptz,
    -- After an opt-out at most one confirmation is sent; this records it.
    opt_out_confirmed_at  timestamptz,
    created_at            timestamptz NOT NULL,
    CONSTRAINT contacts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT contacts_address_key UNIQUE (tenant_id, address),
    CONSTRAINT contacts_kind_check CHECK (kind IN ('number', 'short_code', 'alphanumeric'))
);

CREATE TABLE sessions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    contact_id            uuid NOT NULL,
    number                text NOT NULL,
    -- The display type, fixed at creation.
    type                  text NOT NULL,
    status                text NOT NULL DEFAULT 'open',
    -- Who owned the number when the session opened: one agent, or one SMS queue.
    owner_user_id         uuid,
    owner_queue_id        uuid,
    -- The queue the session lives in now (the owner's personal queue, an SMS queue, or where a
    -- reroute sent it).
    queue_id              uuid,
    assignee_id           uuid,
    -- The assignee's primary team when assigned, so reports group by the team of the time.
    team_id               uuid,
    deflected             boolean NOT NULL DEFAULT false,
    deflected_at          timestamptz,
    -- The start of the closed period last deflected in: one deflection per closed period.
    deflected_period      timestamptz,
    missed_count          integer NOT NULL DEFAULT 0,
    rerouted_count        integer NOT NULL DEFAULT 0,
    first_inbound_at      timestamptz,
    first_response_at     timestamptz,
    last_inbound_at       timestamptz,
    last_agent_reply_at   timestamptz,
    last_message_at       timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    assigned_at           timestamptz,
    closed_at             timestamptz,
    close_reason          text,
    CONSTRAINT sessions_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT sessions_type_check CHECK (type IN ('Messaging Inbound (SMS Direct)', 'Messaging Outbound (SMS Direct)', 'Messaging Inbound', 'Messaging Outbound')),
    CONSTRAINT sessions_status_check CHECK (status IN ('open', 'closed')),
    CONSTRAINT sessions_one_owner_check CHECK (owner_user_id IS NULL OR owner_queue_id IS NULL),
    CONSTRAINT sessions_closed_check CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT sessions_contact_fkey FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    CONSTRAINT sessions_owner_user_fkey FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT sessions_owner_queue_fkey FOREIGN KEY (tenant_id, owner_queue_id) REFERENCES queues (tenant_id, id),
    CONSTRAINT sessions_queue_fkey FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, id),
    CONSTRAINT sessions_assignee_fkey FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id),
    CONSTRAINT sessions_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE SET NULL (team_id)
);
-- A contact has at most one open session on a number: concurrent texts append to one session.
CREATE UNIQUE INDEX sessions_open_key ON sessions (tenant_id, contact_id, number) WHERE status = 'open';
CREATE INDEX sessions_tenant_created_idx ON sessions (tenant_id, created_at);
CREATE INDEX sessions_assignee_idx ON sessions (assignee_id) WHERE status = 'open';
CREATE INDEX sessions_queue_open_idx ON sessions (queue_id) WHERE status = 'open';
CREATE INDEX sessions_idle_idx ON sessions (last_message_at) WHERE status = 'open';

CREATE TABLE messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL,
    session_id          uuid NOT NULL,
    direction           text NOT NULL,
    -- text: a person wrote it; deflection, opt_out_confirmation, opt_in_confirmation, help:
    -- directsms wrote it.
    kind                text NOT NULL DEFAULT 'text',
    from_address        text NOT NULL,
    to_address          text NOT NULL,
    body                text NOT NULL,
    media               jsonb,
    segments            integer NOT NULL DEFAULT 1,
    encoding            text NOT NULL DEFAULT 'GSM-7',
    sender_user_id      uuid,
    provider            text,
    carrier_message_id  text,
    status              text NOT NULL,
    error_code          text,
    error_message       text,
    created_at          timestamptz NOT NULL,
    status_changed_at   timestamptz NOT NULL,
    CONSTRAINT messages_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT messages_direction_check CHECK (direction IN ('in', 'out')),
    CONSTRAINT messages_kind_check CHECK (kind IN ('text', 'deflection', 'opt_out_confirmation', 'opt_in_confirmation', 'help')),
    CONSTRAINT messages_status_check CHECK (status IN ('received', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', 'canceled')),
    CONSTRAINT messages_provider_check CHECK (provider IS NULL OR provider IN ('twilio', 'telnyx')),
    CONSTRAINT messages_encoding_check CHECK (encoding IN ('GSM-7', 'UCS-2')),
    -- A carrier's message id is stored once: a redelivered webhook changes nothing.
    CONSTRAINT messages_carrier_message_key UNIQUE (provider, carrier_message_id),
    CONSTRAINT messages_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT messages_sender_fkey FOREIGN KEY (tenant_id, sender_user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX messages_session_idx ON messages (session_id, created_at);
CREATE INDEX messages_tenant_created_idx ON messages (tenant_id, created_at);

-- Texts to numbers no tenant owns, or to a tenant with SMS off: acknowledged, kept, routed
-- nowhere.
CREATE TABLE unrouted_messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid REFERENCES tenants (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    carrier_message_id  text NOT NULL,
    account_sid         text,
    from_address        text NOT NULL,
    to_address          text NOT NULL,
    body                text NOT NULL,
    reason              text NOT NULL,
    received_at         timestamptz NOT NULL,
    CONSTRAINT unrouted_messages_carrier_message_key UNIQUE (provider, carrier_message_id),
    CONSTRAINT unrouted_messages_reason_check CHECK (reason IN ('unknown_number', 'sms_disabled', 'no_owner'))
);

-- An offer of a session to one user. direct offers (to an agent alone) count toward the
-- missed-chat and unresponsive thresholds; queue fan-out offers do not.
CREATE TABLE offers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL,
    session_id          uuid NOT NULL,
    user_id             uuid NOT NULL,
    direct              boolean NOT NULL,
    status              text NOT NULL DEFAULT 'pending',
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    -- Whether the offer reached one of the user's connected clients.
    delivered_at        timestamptz,
    delivery_failed_at  timestamptz,
    resolved_at         timestamptz,
    CONSTRAINT offers_status_check CHECK (status IN ('pending', 'accepted', 'withdrawn', 'missed')),
    CONSTRAINT offers_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT offers_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX offers_pending_key ON offers (session_id, user_id) WHERE status = 'pending';
CREATE INDEX offers_pending_expiry_idx ON offers (expires_at) WHERE status = 'pending';
CREATE INDEX offers_user_idx ON offers (user_id, created_at);

-- Every step that happened to a session (created, offered, assigned, missed, rerouted,
-- deflected, closed), for the session's timeline and for reports.
CREATE TABLE session_events (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    session_id  uuid NOT NULL,
    kind        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL,
    CONSTRAINT session_events_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX session_events_session_idx ON session_events (session_id, id);

-- The real-time stream: one row per event, addressed to one user or to everyone who can see a
-- queue. The id orders the stream and is the SSE event id (Last-Event-ID resumes after it).
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid,
    queue_id    uuid,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT events_audience_check CHECK ((user_id IS NULL) <> (queue_id IS NULL)),
    CONSTRAINT events_type_check CHECK (type IN ('session.offered', 'session.assigned', 'session.withdrawn', 'session.closed', 'message.received', 'message.status', 'agent.status'))
);
CREATE INDEX events_user_idx ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_queue_idx ON events (queue_id, id) WHERE queue_id IS NOT NULL;
