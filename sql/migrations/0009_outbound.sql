-- Outbound sending: the outbox, carrier status callbacks that arrive before the send's answer,
-- and idempotency keys.
--
-- An outbound messages row in status 'queued' IS the outbox entry, whoever wrote it (an agent
-- through POST /v1/messages; inbound routing for opt-out, opt-in and help replies and for
-- deflection). Workers in any number of processes claim due rows with FOR UPDATE SKIP LOCKED,
-- setting status 'sending' and a claim that expires, commit, call the carrier outside any
-- transaction, and record the answer only while they still hold the claim. A worker that dies
-- mid-send leaves a claim that expires, and the row is claimed again. Queueing a text wakes the
-- worker of the process that queued it; there is deliberately no NOTIFY trigger: PostgreSQL
-- serializes the commits of every transaction that notifies (a global lock held through the
-- commit's flush), which capped queueing at one commit per disk flush.

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
-- when the message does; a retry answers the stored response and sends nothing. Of two
-- concurrent requests with one key, the second to commit fails on the primary key and is run
-- again, then answering the first's response. Swept after a day.
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

-- outbound_queue_text queues one agent's text, so that accepting a text costs one statement, not
-- ten: the idempotency key, the conversation, who may send from which number, consent, the
-- session, the message. The caller has already checked the body and normalized the numbers
-- (p_to is the contact's address of kind p_to_kind, p_from E.164; either may be NULL). It answers
-- the API's 202 body and whether it is the stored answer of an earlier request with the same key,
-- or a refusal: the API's error code (with the field after a colon where it is not obvious).
-- Every refusal is decided before anything is written, so a refusal leaves no trace and texts
-- can be queued many to a transaction (outbound_queue_texts).
--
-- The sender may use its own direct numbers, direct numbers of the SMS queues it belongs to
-- (directly or through a team), numbers assigned for outbound to it or to one of those queues,
-- and the number of a session assigned to it. Without a from, the session's number, else the
-- sender's one direct number. Without a session, the contact's open session on the number is
-- continued, or an outbound one is opened, typed by whether the number is direct, owned by the
-- number's owner, in the owner's queue, assigned to the sender.
CREATE FUNCTION outbound_queue_text(p_tenant uuid, p_user uuid, p_from text, p_to text, p_to_kind text,
    p_session uuid, p_body text, p_segments integer, p_encoding text, p_now timestamptz,
    p_key text, p_hash bytea, OUT answer jsonb, OUT replayed boolean, OUT refusal text)
LANGUAGE plpgsql AS $$
DECLARE
    v_stored      record;
    v_sess        record;
    v_has_sess    boolean := false;
    v_sess_open   boolean := false;
    v_assignee    uuid;
    v_from        text := p_from;
    v_to          text := p_to;
    v_owned       text[];
    v_num         record;
    v_contact     uuid;
    v_opted_out   boolean;
    v_session     uuid;
    v_type        text;
    v_opened      boolean := false;
    v_message     uuid;
BEGIN
    replayed := false;
    IF p_key IS NOT NULL THEN
        SELECT request_hash, response INTO v_stored FROM idempotency_keys
        WHERE tenant_id = p_tenant AND user_id = p_user AND key = p_key;
        IF FOUND THEN
            IF v_stored.request_hash <> p_hash THEN
                refusal := 'idempotency_key_reused';
            ELSE
                answer := v_stored.response;
                replayed := true;
            END IF;
            RETURN;
        END IF;
    END IF;

    IF p_session IS NOT NULL THEN
        SELECT s.id, s.number, s.status, s.assignee_id, c.id AS contact_id, c.address, c.opted_out INTO v_sess
        FROM sessions s JOIN contacts c ON c.id = s.contact_id
        WHERE s.tenant_id = p_tenant AND s.id = p_session;
        IF NOT FOUND THEN
            refusal := 'unknown_session';
            RETURN;
        END IF;
        v_has_sess := true;
        v_sess_open := v_sess.status = 'open';
        v_assignee := v_sess.assignee_id;
        IF v_to IS NOT NULL AND v_to <> v_sess.address THEN
            refusal := 'session_mismatch:to';
            RETURN;
        END IF;
        IF v_from IS NOT NULL AND v_from <> v_sess.number THEN
            refusal := 'session_mismatch:from';
            RETURN;
        END IF;
        v_from := v_sess.number;
        v_to := v_sess.address;
    END IF;

    IF v_from IS NULL THEN
        SELECT array_agg(e164) INTO v_owned FROM (
            SELECT e164 FROM numbers WHERE tenant_id = p_tenant AND sms_user_id = p_user LIMIT 2) o;
        IF cardinality(v_owned) IS DISTINCT FROM 1 THEN
            refusal := 'from_required';
            RETURN;
        END IF;
        v_from := v_owned[1];
    END IF;

    WITH mine AS (
        SELECT qm.queue_id FROM queue_members qm WHERE qm.tenant_id = p_tenant AND qm.user_id = p_user
        UNION
        SELECT qm.queue_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
        WHERE qm.tenant_id = p_tenant AND tm.user_id = p_user
    )
    SELECT n.direct, n.sms_user_id, n.sms_queue_id, pq.id AS personal_queue_id,
        COALESCE(n.sms_user_id = p_user, false)
        OR (n.direct AND COALESCE(n.sms_queue_id IN (SELECT queue_id FROM mine), false))
        OR EXISTS (SELECT 1 FROM number_outbound o WHERE o.number_id = n.id
            AND (o.user_id = p_user OR o.queue_id IN (SELECT queue_id FROM mine))) AS allowed
    INTO v_num
    FROM numbers n LEFT JOIN queues pq ON pq.personal_user_id = n.sms_user_id
    WHERE n.tenant_id = p_tenant AND n.e164 = v_from;
    IF NOT FOUND OR NOT (v_num.allowed OR v_assignee IS NOT DISTINCT FROM p_user) THEN
        refusal := 'sender_not_allowed';
        RETURN;
    END IF;

    IF v_has_sess THEN
        v_contact := v_sess.contact_id;
        v_opted_out := v_sess.opted_out;
    ELSE
        -- Find or create; a contact created concurrently after the SELECT's snapshot makes the
        -- INSERT do nothing, and the next SELECT sees it. A new contact has not opted out.
        LOOP
            SELECT id, opted_out INTO v_contact, v_opted_out FROM contacts WHERE tenant_id = p_tenant AND address = v_to;
            EXIT WHEN FOUND;
            INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES (p_tenant, v_to, p_to_kind, p_now)
            ON CONFLICT ON CONSTRAINT contacts_address_key DO NOTHING
            RETURNING id, opted_out INTO v_contact, v_opted_out;
            EXIT WHEN FOUND;
        END LOOP;
    END IF;
    IF v_opted_out THEN
        refusal := 'recipient_opted_out';
        RETURN;
    END IF;

    IF v_sess_open THEN
        v_session := v_sess.id;
    ELSE
        v_type := CASE WHEN v_num.direct THEN 'Messaging Outbound (SMS Direct)' ELSE 'Messaging Outbound' END;
        LOOP
            SELECT id INTO v_session FROM sessions
            WHERE tenant_id = p_tenant AND contact_id = v_contact AND number = v_from AND status = 'open';
            EXIT WHEN FOUND;
            -- The partial unique index on open sessions makes concurrent first texts open one.
            INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, owner_queue_id, queue_id,
                assignee_id, team_id, last_message_at, last_agent_reply_at, created_at, assigned_at)
            VALUES (p_tenant, v_contact, v_from, v_type, v_num.sms_user_id, v_num.sms_queue_id,
                CASE WHEN v_num.sms_user_id IS NOT NULL THEN v_num.personal_queue_id ELSE v_num.sms_queue_id END,
                p_user, (SELECT primary_team_id FROM users WHERE tenant_id = p_tenant AND id = p_user), p_now, p_now, p_now, p_now)
            ON CONFLICT (tenant_id, contact_id, number) WHERE status = 'open' DO NOTHING
            RETURNING id INTO v_session;
            IF FOUND THEN
                v_opened := true;
                INSERT INTO session_events (tenant_id, session_id, kind, data, at) VALUES
                    (p_tenant, v_session, 'created', jsonb_build_object('direction', 'out', 'type', v_type, 'by_user_id', p_user), p_now),
                    (p_tenant, v_session, 'assigned', jsonb_build_object('user_id', p_user, 'reason', 'sender'), p_now);
                EXIT;
            END IF;
        END LOOP;
    END IF;

    -- The first text after the contact's first inbound one is the session's first response. A
    -- session opened just now already has its times (and updating a row inserted in the same
    -- transaction would check all its foreign keys again).
    IF NOT v_opened THEN
        UPDATE sessions SET last_message_at = p_now, last_agent_reply_at = p_now,
            first_response_at = CASE WHEN first_response_at IS NULL AND first_inbound_at IS NOT NULL THEN p_now ELSE first_response_at END
        WHERE id = v_session;
    END IF;
    INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, segments, encoding,
        sender_user_id, status, created_at, status_changed_at)
    VALUES (p_tenant, v_session, 'out', 'text', v_from, v_to, p_body, p_segments, p_encoding, p_user, 'queued', p_now, p_now)
    RETURNING id INTO v_message;

    answer := jsonb_build_object('id', v_message, 'session_id', v_session, 'status', 'queued',
        'segments', p_segments, 'encoding', p_encoding);
    IF p_key IS NOT NULL THEN
        -- A concurrent request with the same key that committed first makes this fail on the
        -- primary key; the caller runs the request again and then finds the stored answer.
        INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, message_id, response, created_at)
        VALUES (p_tenant, p_user, p_key, p_hash, v_message, answer, p_now);
    END IF;
END
$$;

-- outbound_queue_texts queues many texts in one statement and one transaction, one commit for
-- all: the API gathers the texts of concurrent requests, so accepting texts is not limited by
-- how fast the disk flushes commits. p_items is a JSON array of objects with the arguments of
-- outbound_queue_text (tenant, user, from, to, to_kind, session, body, segments, encoding, key,
-- hash in hex); the answer has one row per item, by its index from 0. Items are taken in the
-- order given: callers sort them by contact and number so that concurrent batches lock
-- contacts and sessions in one order.
CREATE FUNCTION outbound_queue_texts(p_items jsonb, p_now timestamptz)
RETURNS TABLE (idx integer, answer jsonb, replayed boolean, refusal text)
LANGUAGE plpgsql AS $$
DECLARE
    v_item record;
BEGIN
    FOR v_item IN
        SELECT (x.ord - 1)::integer AS i, x.item FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(item, ord)
    LOOP
        idx := v_item.i;
        SELECT q.answer, q.replayed, q.refusal INTO answer, replayed, refusal
        FROM outbound_queue_text(
            (v_item.item->>'tenant')::uuid, (v_item.item->>'user')::uuid, NULLIF(v_item.item->>'from', ''),
            NULLIF(v_item.item->>'to', ''), NULLIF(v_item.item->>'to_kind', ''), NULLIF(v_item.item->>'session', '')::uuid,
            v_item.item->>'body', (v_item.item->>'segments')::integer, v_item.item->>'encoding', p_now,
            NULLIF(v_item.item->>'key', ''), decode(v_item.item->>'hash', 'hex')) q;
        RETURN NEXT;
    END LOOP;
END
$$;
