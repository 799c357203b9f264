-- Event producers: the subscribable events (reporting.EventTypes) are written into the
-- webhook outbox by the database itself, in the transaction of the change they describe, so
-- every path that makes the change produces the event — routing's PL/pgSQL functions, outbound
-- sending, the outbox, status callbacks and directory's status changes alike — and none can
-- forget to. The data of each event is the JSON of the Go struct of the same name in
-- reporting/events.go.

-- reporting_wants says whether any subscription of the tenant wants the event type: one probe
-- of event_subscriptions_tenant_idx. Producers ask it before building the event's data, so a
-- tenant without subscriptions pays only that probe.
CREATE FUNCTION reporting_wants(p_tenant uuid, p_type text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM event_subscriptions WHERE tenant_id = p_tenant AND p_type = ANY(events));
END
$$;

-- reporting_enqueue stores an event and one delivery per subscription of the tenant that wants
-- it, and nothing at all when none does, so that case costs one index lookup. The
-- subscriptions are read FOR KEY SHARE: one deleted meanwhile is skipped instead of failing the
-- producer's transaction on the foreign key, and a delete waits for the producer to commit.
-- Go producers call it through reporting.Enqueue, the triggers below directly.
CREATE FUNCTION reporting_enqueue(p_tenant uuid, p_type text, p_data json, p_now timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH subs AS (
        SELECT id FROM event_subscriptions
        WHERE tenant_id = p_tenant AND p_type = ANY(events)
        FOR KEY SHARE
    ), ev AS (
        INSERT INTO webhook_events (tenant_id, type, data, occurred_at)
        SELECT p_tenant, p_type, p_data, p_now WHERE EXISTS (SELECT 1 FROM subs)
        RETURNING id
    )
    INSERT INTO webhook_deliveries (tenant_id, event_id, subscription_id, next_attempt_at, created_at)
    SELECT p_tenant, ev.id, subs.id, p_now, p_now FROM ev CROSS JOIN subs;
END
$$;

-- reporting_duration says a number of seconds for a person: "24 hours", "90 minutes".
CREATE FUNCTION reporting_duration(p_seconds integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_seconds % 3600 = 0 THEN (p_seconds / 3600)::text || CASE WHEN p_seconds = 3600 THEN ' hour' ELSE ' hours' END
        WHEN p_seconds % 60 = 0 THEN (p_seconds / 60)::text || CASE WHEN p_seconds = 60 THEN ' minute' ELSE ' minutes' END
        ELSE p_seconds::text || ' seconds'
    END
$$;

-- session.created: a session opened, by a contact's text (routing_inbound) or an agent's
-- (outbound_queue_text). The queue is the one it was opened in.
CREATE FUNCTION reporting_session_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF reporting_wants(NEW.tenant_id, 'session.created') THEN
        PERFORM reporting_enqueue(NEW.tenant_id, 'session.created', json_build_object(
            'session_id', NEW.id, 'type', NEW.type, 'number', NEW.number,
            'contact', (SELECT c.address FROM contacts c WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.contact_id),
            'owner_user_id', NEW.owner_user_id, 'owner_queue_id', NEW.owner_queue_id, 'queue_id', NEW.queue_id,
            'created_at', routing_ts(NEW.created_at)), NEW.created_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_reporting_created AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION reporting_session_created();

-- session.closed: a session closed, by a person (routing_close) or after idling
-- (routing_close_idle). It completed when an agent wrote in it; otherwise it failed, and the
-- reason says so in words.
CREATE FUNCTION reporting_session_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_in integer;
    v_out integer;
    v_agent_wrote boolean;
    v_reason text;
BEGIN
    IF NOT reporting_wants(NEW.tenant_id, 'session.closed') THEN
        RETURN NULL;
    END IF;
    SELECT count(*) FILTER (WHERE m.direction = 'in'), count(*) FILTER (WHERE m.direction = 'out'),
           COALESCE(bool_or(m.direction = 'out' AND m.kind = 'text' AND m.sender_user_id IS NOT NULL), false)
        INTO v_in, v_out, v_agent_wrote
        FROM messages m WHERE m.tenant_id = NEW.tenant_id AND m.session_id = NEW.id;
    IF NOT v_agent_wrote THEN
        IF NEW.close_reason = 'idle' THEN
            SELECT 'No agent replied before the session closed after ' || reporting_duration(t.session_idle_close_seconds) || ' idle.'
                INTO v_reason FROM tenants t WHERE t.id = NEW.tenant_id;
        ELSE
            v_reason := 'The session was closed before any agent replied.';
        END IF;
    END IF;
    PERFORM reporting_enqueue(NEW.tenant_id, 'session.closed', (jsonb_build_object(
        'session_id', NEW.id, 'type', NEW.type, 'number', NEW.number,
        'contact', (SELECT c.address FROM contacts c WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.contact_id),
        'status', CASE WHEN v_agent_wrote THEN 'completed' ELSE 'failed' END,
        'close_reason', NEW.close_reason, 'assignee_id', NEW.assignee_id, 'queue_id', NEW.queue_id,
        'messages_in', v_in, 'messages_out', v_out,
        'created_at', routing_ts(NEW.created_at), 'closed_at', routing_ts(NEW.closed_at))
        || CASE WHEN v_reason IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('failure_reason', v_reason) END)::json,
        NEW.closed_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_reporting_closed AFTER UPDATE OF status ON sessions
    FOR EACH ROW WHEN (OLD.status = 'open' AND NEW.status = 'closed') EXECUTE FUNCTION reporting_session_closed();

-- message.received and message.sent: a contact's text stored in a session, or an outbound
-- text queued (the outbox), whoever wrote it: an agent, deflection, or a consent or help reply.
CREATE FUNCTION reporting_message_stored() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.direction = 'in' THEN
        IF reporting_wants(NEW.tenant_id, 'message.received') THEN
            PERFORM reporting_enqueue(NEW.tenant_id, 'message.received', json_build_object(
                'message_id', NEW.id, 'session_id', NEW.session_id, 'from', NEW.from_address, 'to', NEW.to_address,
                'body', NEW.body,
                'media', COALESCE((SELECT json_agg(x.m->>'url' ORDER BY x.i) FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(NEW.media) = 'array' THEN NEW.media END) WITH ORDINALITY AS x(m, i)), '[]'::json),
                'segments', NEW.segments, 'received_at', routing_ts(NEW.created_at)), NEW.created_at);
        END IF;
    ELSIF reporting_wants(NEW.tenant_id, 'message.sent') THEN
        PERFORM reporting_enqueue(NEW.tenant_id, 'message.sent', json_build_object(
            'message_id', NEW.id, 'session_id', NEW.session_id, 'kind', NEW.kind, 'from', NEW.from_address,
            'to', NEW.to_address, 'body', NEW.body, 'segments', NEW.segments, 'encoding', NEW.encoding,
            'sender_user_id', NEW.sender_user_id, 'status', NEW.status, 'created_at', routing_ts(NEW.created_at)), NEW.created_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_reporting_stored AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION reporting_message_stored();

-- message.status: an outbound text moved on (sent, delivered, undelivered, failed…). The
-- outbox's own steps, queued and sending (a claim, or its release for a retry), are not news to
-- the tenant.
CREATE FUNCTION reporting_message_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF reporting_wants(NEW.tenant_id, 'message.status') THEN
        PERFORM reporting_enqueue(NEW.tenant_id, 'message.status', json_build_object(
            'message_id', NEW.id, 'session_id', NEW.session_id, 'status', NEW.status,
            'error_code', NEW.error_code, 'error_message', NEW.error_message,
            'changed_at', routing_ts(NEW.status_changed_at)), NEW.status_changed_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_reporting_status AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.direction = 'out' AND OLD.status IS DISTINCT FROM NEW.status AND NEW.status NOT IN ('queued', 'sending'))
    EXECUTE FUNCTION reporting_message_status();

-- agent.status: a user's status changed (directory.SetStatusTx: the agent, an admin, a
-- threshold, a cool-down), which is exactly when a timeline row is written. The status a user
-- is created with is no change and produces nothing. The previous status is the timeline's row
-- before this one.
CREATE FUNCTION reporting_agent_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reason <> 'created' AND reporting_wants(NEW.tenant_id, 'agent.status') THEN
        PERFORM reporting_enqueue(NEW.tenant_id, 'agent.status', json_build_object(
            'user_id', NEW.user_id, 'status', NEW.status,
            'previous_status', COALESCE((SELECT c.status FROM user_status_changes c
                WHERE c.user_id = NEW.user_id AND c.tenant_id = NEW.tenant_id AND c.id <> NEW.id
                  AND (c.changed_at, c.id) < (NEW.changed_at, NEW.id)
                ORDER BY c.changed_at DESC, c.id DESC LIMIT 1), 'offline'),
            'reason', NEW.reason, 'changed_by', NEW.changed_by, 'changed_at', routing_ts(NEW.changed_at)), NEW.changed_at);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_status_changes_reporting AFTER INSERT ON user_status_changes
    FOR EACH ROW EXECUTE FUNCTION reporting_agent_status();
