-- Presence for the real-time event stream: one row per connected event-stream client, so any
-- process can tell whether an agent has a client an offer could reach (the unresponsive rule).
-- The process holding the connection refreshes last_seen_at every 15 seconds and deletes the row
-- when the client goes; a row not refreshed for 45 seconds belongs to a process that died and
-- counts as gone (any process sweeps such rows).

CREATE TABLE client_connections (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL,
    user_id       uuid NOT NULL,
    -- Which directsms process holds the connection, for operators and for its own cleanup.
    process_id    text NOT NULL,
    connected_at  timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    CONSTRAINT client_connections_process_check CHECK (length(process_id) BETWEEN 1 AND 200),
    CONSTRAINT client_connections_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX client_connections_user_idx ON client_connections (tenant_id, user_id, last_seen_at);
CREATE INDEX client_connections_last_seen_idx ON client_connections (last_seen_at);
CREATE INDEX client_connections_process_idx ON client_connections (process_id);

-- Resuming a stream reads one tenant's events after an id; the user and queue indexes of 0004
-- serve the audience filter.
CREATE INDEX events_tenant_id_idx ON events (tenant_id, id);

-- The event stream treats a missing id below a committed one as pending until the transactions
-- writing events when it was seen have ended (routing.Hub). A sequence cache would let a session
-- hold unused ids between transactions and break that, so the cache stays at one.
ALTER SEQUENCE events_id_seq CACHE 1;
