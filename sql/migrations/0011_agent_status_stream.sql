-- agent.status on the agent's own event stream for every status change, whoever makes it (the
-- agent, an admin or supervisor, a threshold, a cool-down): a timeline row is written exactly
-- when a status changes, so the stream follows the timeline here rather than each caller
-- remembering to publish. Status changes are rare, so notifying inside the transaction costs
-- nothing that matters.
CREATE FUNCTION routing_agent_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reason <> 'created' THEN
        INSERT INTO events (tenant_id, user_id, type, data, created_at)
        VALUES (NEW.tenant_id, NEW.user_id, 'agent.status', jsonb_build_object(
            'user_id', NEW.user_id, 'status', NEW.status, 'reason', NEW.reason,
            'changed_by', NEW.changed_by, 'changed_at', NEW.changed_at), NEW.changed_at);
        PERFORM pg_notify('directsms_events', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_status_changes_stream AFTER INSERT ON user_status_changes
    FOR EACH ROW EXECUTE FUNCTION routing_agent_status_event();
