-- Outbound sending: the outbox, carrier status callbacks that arrive before the send's answer,
-- and idempotency keys.
--
-- An outbound messages row in status 'queued' IS the outbox entry, whoever wrote it (an agent
-- through POST /v1/messages; inbound routing for opt-out, opt-in and help replies and for
-- deflection). Workers in any number of processes claim due rows with FOR UPDATE SKIP LOCKED,
-- setting status 'sending' and a claim that expires, commit, call the carrier outside any
-- transaction, and record the answer only while they still hold the claim. A worker that dies
-- mid-send leaves a claim that expires, and the row is claimed again.

ALTER TABLE messages
    -- Claims so far, counted when claimed, so a message that crashes its worker every time
    -- still runs out of tries.
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    -- When a queued message may be tried (again); NULL means as soon as it was created.
    ADD COLUMN next_attempt_at  timestamptz,
    -- The claim of the worker sending it now: until when, and a token naming that one claim.
    ADD COLUMN claimed_until    timestamptz,
    ADD COLUMN claimed_by       text,
    -- Why the last try failed, as the carrier said it; kept when a retry succeeds.
    ADD COLUMN last_error       text,
    -- When the carrier accepted the message (its id is then carrier_message_id).
    ADD COLUMN accepted_at      timestamptz,
    ADD CONSTRAINT messages_attempts_check CHECK (attempts >= 0),
    ADD CONSTRAINT messages_claim_check CHECK ((claimed_until IS NULL) = (claimed_by IS NULL)),
    ADD CONSTRAINT messages_claim_sending_check CHECK (claimed_until IS NULL OR status = 'sending');

-- The outbox proper: what is waiting for a worker, ordered by when it is due. A claimed row
-- is due again when its claim expires; a row the carrier accepted has left the index.
CREATE INDEX messages_outbox_idx ON messages ((COALESCE(claimed_until, next_attempt_at, created_at)))
    WHERE direction = 'out' AND status IN ('queued', 'sending') AND carrier_message_id IS NULL;

-- Wakes the outbox workers of every process when a text is queued, whoever queued it.
-- PostgreSQL folds the identical notifications of one transaction into one.
CREATE FUNCTION messages_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('directsms_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_outbox_notify AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.direction = 'out' AND NEW.status = 'queued') EXECUTE FUNCTION messages_outbox_notify();

-- message_status_advances says whether a message in status cur may move to next. Statuses only
-- move forward (queued, sending, sent, then an outcome) and never leave an outcome, whatever
-- order carriers' callbacks arrive in; the one step after an outcome is delivered to read.
CREATE FUNCTION message_status_advances(cur text, next text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN cur = 'delivered' THEN next = 'read'
        WHEN cur IN ('undelivered', 'failed', 'read', 'canceled') THEN false
        ELSE (CASE next WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2 ELSE 3 END)
           > (CASE cur WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2 ELSE 3 END)
    END
$$;

-- Status callbacks for a carrier message id no message has yet: the carrier can call back
-- before the worker that sent the message has recorded the carrier's answer. The worker applies
-- them when it records the id. Both sides take the same advisory lock on the carrier id first,
-- so neither can miss the other. Rows no message ever claims are swept after a day.
CREATE TABLE message_status_callbacks (
    id                  bigserial PRIMARY KEY,
    -- The tenant of the carrier account that signed the callback: only its messages match.
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    carrier_message_id  text NOT NULL,
    status              text NOT NULL,
    error_code          text,
    error_message       text,
    -- The carrier said the recipient opted out (Twilio 21610, Telnyx 40300).
    opted_out           boolean NOT NULL DEFAULT false,
    received_at         timestamptz NOT NULL,
    CONSTRAINT message_status_callbacks_provider_check CHECK (provider IN ('twilio', 'telnyx')),
    CONSTRAINT message_status_callbacks_status_check CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', 'canceled'))
);
CREATE INDEX message_status_callbacks_message_idx ON message_status_callbacks (provider, carrier_message_id);
CREATE INDEX message_status_callbacks_received_idx ON message_status_callbacks (received_at);

-- Idempotency-Key of POST /v1/messages, per tenant and user: the request's hash and the answer
-- it got. The row is written in the transaction that queues the message, so it exists exactly
-- when the message does; a retry answers the stored response and sends nothing. Swept after a
-- day.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL,
    user_id       uuid NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    message_id    uuid,
    response      jsonb,
    created_at    timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, user_id, key),
    CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
