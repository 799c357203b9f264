-- Event subscriptions and their outbox. A producer (routing, outbound sending) writes the event
-- and one delivery per matching subscription in its own transaction, so an event exists exactly
-- when what it describes is committed; a dispatcher claims due deliveries, POSTs them signed, and
-- records every try.

CREATE TABLE event_subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url         text NOT NULL,
    -- The HMAC key deliveries are signed with. It has to be kept as written (a hash could not
    -- sign), and is never shown again by the API.
    secret      text NOT NULL,
    events      text[] NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL,
    CONSTRAINT event_subscriptions_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT event_subscriptions_url_check CHECK (url ~ '^https?://' AND length(url) <= 2048),
    CONSTRAINT event_subscriptions_secret_check CHECK (length(secret) BETWEEN 16 AND 256),
    CONSTRAINT event_subscriptions_events_check CHECK (
        cardinality(events) > 0
        AND events <@ ARRAY['session.created', 'session.closed', 'message.received', 'message.sent', 'message.status', 'agent.status']::text[]),
    CONSTRAINT event_subscriptions_created_by_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX event_subscriptions_tenant_idx ON event_subscriptions (tenant_id);

-- One row per event that at least one subscription wanted; its id is the envelope's id, the
-- same on every try and for every subscription.
CREATE TABLE webhook_events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type         text NOT NULL,
    -- json, not jsonb: kept byte for byte as the producer wrote it, so every try sends the same
    -- body, and text jsonb refuses (a NUL a carrier passed through) cannot fail the producer.
    data         json NOT NULL,
    occurred_at  timestamptz NOT NULL,
    CONSTRAINT webhook_events_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT webhook_events_type_check CHECK (type IN ('session.created', 'session.closed', 'message.received', 'message.sent', 'message.status', 'agent.status'))
);
CREATE INDEX webhook_events_occurred_idx ON webhook_events (occurred_at);

-- One event for one subscription. pending deliveries are due at next_attempt_at; a dispatcher
-- that claims one pushes next_attempt_at past its own deadline (a lease), so a process that dies
-- mid-try leaves it to be tried again, never lost.
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    event_id         uuid NOT NULL,
    subscription_id  uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending',
    -- Tries begun, counting the one in flight.
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_finished_check CHECK ((status = 'pending') = (finished_at IS NULL)),
    CONSTRAINT webhook_deliveries_event_subscription_key UNIQUE (event_id, subscription_id),
    CONSTRAINT webhook_deliveries_event_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES webhook_events (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_subscription_fkey FOREIGN KEY (tenant_id, subscription_id) REFERENCES event_subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id);

-- The delivery log: one row per try, what the receiver answered (or why nothing came back) and
-- how long it took.
CREATE TABLE webhook_attempts (
    id               bigserial PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    subscription_id  uuid NOT NULL,
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL,
    status_code      integer,
    error            text,
    duration_ms      integer NOT NULL,
    -- What the try decided: delivered, retry later, or failed for good.
    outcome          text NOT NULL,
    CONSTRAINT webhook_attempts_outcome_check CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    CONSTRAINT webhook_attempts_result_check CHECK (status_code IS NOT NULL OR error IS NOT NULL),
    CONSTRAINT webhook_attempts_subscription_fkey FOREIGN KEY (tenant_id, subscription_id) REFERENCES event_subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_subscription_idx ON webhook_attempts (subscription_id, id);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id);

-- Per-session message figures for reports, kept by a trigger on messages so that every writer
-- (inbound routing, outbound sending, deflection, consent replies) is counted and a report reads
-- sessions alone: a month of a busy tenant grouped by day and type takes about a third of the time
-- of joining messages per session. The trigger is per statement, over the inserted rows, so a
-- bulk insert costs one UPDATE per statement rather than one per row; a single inbound text
-- pays one HOT update of a row its transaction already holds. Messages never move between
-- sessions and their direction, kind, sender and creation time never change, so inserts are all
-- there is to count.
ALTER TABLE sessions
    ADD COLUMN messages_in integer NOT NULL DEFAULT 0,
    ADD COLUMN messages_out integer NOT NULL DEFAULT 0,
    -- The first inbound message, and the first text an agent wrote (kind text, with a sender).
    ADD COLUMN first_message_in_at timestamptz,
    ADD COLUMN first_agent_text_at timestamptz;
-- Room on each page for the new versions that counting writes, so they stay heap-only (HOT).
ALTER TABLE sessions SET (fillfactor = 90);

CREATE FUNCTION sessions_count_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions s SET
        messages_in = s.messages_in + n.n_in,
        messages_out = s.messages_out + n.n_out,
        first_message_in_at = LEAST(s.first_message_in_at, n.first_in),
        first_agent_text_at = LEAST(s.first_agent_text_at, n.first_agent_text)
    FROM (
        SELECT session_id,
               count(*) FILTER (WHERE direction = 'in') AS n_in,
               count(*) FILTER (WHERE direction = 'out') AS n_out,
               min(created_at) FILTER (WHERE direction = 'in') AS first_in,
               min(created_at) FILTER (WHERE direction = 'out' AND kind = 'text' AND sender_user_id IS NOT NULL) AS first_agent_text
        FROM new_messages
        GROUP BY session_id
    ) n
    WHERE s.id = n.session_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_count_sessions AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_count_messages();

UPDATE sessions s SET
    messages_in = n.n_in,
    messages_out = n.n_out,
    first_message_in_at = n.first_in,
    first_agent_text_at = n.first_agent_text
FROM (
    SELECT session_id,
           count(*) FILTER (WHERE direction = 'in') AS n_in,
           count(*) FILTER (WHERE direction = 'out') AS n_out,
           min(created_at) FILTER (WHERE direction = 'in') AS first_in,
           min(created_at) FILTER (WHERE direction = 'out' AND kind = 'text' AND sender_user_id IS NOT NULL) AS first_agent_text
    FROM messages
    GROUP BY session_id
) n
WHERE s.id = n.session_id;
