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
