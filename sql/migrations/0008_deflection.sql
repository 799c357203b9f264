-- After-hours deflection settings and the claims of cluster-once scheduled jobs.
--
-- deflection_settings holds one row per level that overrides its parent: the tenant's global
-- settings, a team's, a user's or an SMS queue's. A missing row means "inherit" (for the global
-- level: deflection off). A row always holds a whole settings object, so resetting a level is
-- deleting its row and turning one on copies nothing from the level above.

CREATE TABLE deflection_settings (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    level       text NOT NULL,
    team_id     uuid,
    user_id     uuid,
    queue_id    uuid,
    -- Constant: the composite key to queues only matches an SMS queue.
    queue_kind  text NOT NULL DEFAULT 'sms',
    -- What the row overrides, whatever its level: the lookup of a number's effective settings
    -- matches every candidate level with one index scan.
    target_id   uuid NOT NULL GENERATED ALWAYS AS (COALESCE(user_id, team_id, queue_id, tenant_id)) STORED,
    enabled     boolean NOT NULL,
    hours       jsonb NOT NULL,
    message     text NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  uuid,
    PRIMARY KEY (tenant_id, target_id),
    CONSTRAINT deflection_settings_level_check CHECK (
        (level = 'global' AND team_id IS NULL AND user_id IS NULL AND queue_id IS NULL) OR
        (level = 'team' AND team_id IS NOT NULL AND user_id IS NULL AND queue_id IS NULL) OR
        (level = 'user' AND user_id IS NOT NULL AND team_id IS NULL AND queue_id IS NULL) OR
        (level = 'queue' AND queue_id IS NOT NULL AND team_id IS NULL AND user_id IS NULL)),
    CONSTRAINT deflection_settings_queue_kind_check CHECK (queue_kind = 'sms'),
    CONSTRAINT deflection_settings_hours_check CHECK (jsonb_typeof(hours) = 'object'),
    CONSTRAINT deflection_settings_message_check CHECK (length(message) <= 1600),
    CONSTRAINT deflection_settings_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deflection_settings_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deflection_settings_queue_fkey FOREIGN KEY (tenant_id, queue_id, queue_kind)
        REFERENCES queues (tenant_id, id, kind) ON DELETE CASCADE,
    CONSTRAINT deflection_settings_updated_by_fkey FOREIGN KEY (tenant_id, updated_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (updated_by)
);

-- deflection_effective answers the settings that apply at a level and the level they come from:
-- for a user (p_user), its own override, else its primary team's (or p_team's when given), else
-- the tenant's; for a team (p_team), its own, else the tenant's; for a queue (p_queue), its own,
-- else the tenant's. No override anywhere means deflection off, in the tenant's time zone (hours
-- null). One index scan over the tenant's candidate rows: routing runs it for inbound texts.
CREATE FUNCTION deflection_effective(p_tenant uuid, p_user uuid, p_team uuid, p_queue uuid)
RETURNS TABLE (level text, enabled boolean, hours jsonb, message text, timezone text)
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(d.level, 'global'), COALESCE(d.enabled, false), d.hours, COALESCE(d.message, ''), t.timezone
    FROM tenants t
    LEFT JOIN LATERAL (
        SELECT s.level, s.enabled, s.hours, s.message
        FROM deflection_settings s
        WHERE s.tenant_id = t.id
            AND s.target_id IN (t.id, p_user, p_queue,
                COALESCE(p_team, (SELECT u.primary_team_id FROM users u WHERE u.tenant_id = t.id AND u.id = p_user)))
        ORDER BY CASE s.level WHEN 'global' THEN 2 WHEN 'team' THEN 1 ELSE 0 END
        LIMIT 1
    ) d ON true
    WHERE t.id = p_tenant
$$;

-- One row per run of a scheduled job and period: the process whose insert wins runs the job for
-- that period, every other process skips it. Rows older than a day are pruned by the runner.
CREATE TABLE job_runs (
    job         text NOT NULL,
    period      timestamptz NOT NULL,
    claimed_at  timestamptz NOT NULL,
    claimed_by  text NOT NULL,
    PRIMARY KEY (job, period),
    CONSTRAINT job_runs_job_check CHECK (length(job) BETWEEN 1 AND 100)
);

-- The cool-down sweep: agents a threshold took off work, whom a tenant cool-down may bring back.
CREATE INDEX users_threshold_status_idx ON users (status_changed_at)
    WHERE status IN ('missed_chat', 'unresponsive');

-- A delivered offer ends its agent's run of failed deliveries (the unresponsive rule), whichever
-- process and code path records the delivery.
CREATE FUNCTION offers_reset_unresponsive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET unresponsive_count = 0
        WHERE u.tenant_id = NEW.tenant_id AND u.id = NEW.user_id AND u.unresponsive_count <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER offers_reset_unresponsive AFTER UPDATE OF delivered_at ON offers
    FOR EACH ROW WHEN (OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL)
    EXECUTE FUNCTION offers_reset_unresponsive();
