-- Inbound routing: what happens to one text, as PostgreSQL functions, so a webhook costs one
-- round trip and one transaction however many rows it touches (number lookup, duplicate check,
-- contact, session, message, offers, timeline and real-time events).
--
-- The functions are the routing engine; the routing package calls them and owns their rules.
-- Eligibility matches directory.EligibleMembers: an active user, status available, sms channel
-- on (user_channels, default on).

-- Where a session is along its owner's fallback chain (DESIGN.md, "Inbound routing"): offered to
-- the owner, moved to the owner's backup (a user or a queue), to the owner's primary team's SMS
-- queue, or waiting unassigned in the owner's personal queue. Reroute moves one step along.
ALTER TABLE sessions ADD COLUMN route_step text NOT NULL DEFAULT 'owner';
ALTER TABLE sessions ADD CONSTRAINT sessions_route_step_check CHECK (route_step IN ('owner', 'backup', 'team_queue', 'waiting'));

-- Every inbound text updates its session's last_message_at. With that column indexed the update
-- rewrote all seven session indexes; without it, and with room left on each page, it is a HOT
-- update that touches no index (measured: the session update's cost halves). CloseIdle finds
-- idle sessions among the open ones through sessions_open_key instead.
DROP INDEX sessions_idle_idx;
ALTER TABLE sessions SET (fillfactor = 80);

-- Every inbound text writes an event. Its foreign key to tenants made each insert take a KEY
-- SHARE lock on the one tenant row, through a separate query, and under concurrent texts of one
-- tenant a MultiXact per locker; measured, about a tenth of the inbound statement's CPU. Events
-- are an append-only stream whose tenant_id is always the writer's own, and tenants are not
-- deleted through the API, so the key goes.
ALTER TABLE events DROP CONSTRAINT events_tenant_id_fkey;

-- routing_ts formats a time as RFC 3339 in UTC for event payloads, whatever the connection's
-- TimeZone.
CREATE FUNCTION routing_ts(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The helpers below are plpgsql, not SQL functions, although each is one query: PostgreSQL
-- parses and plans a SQL function's body on every call when it cannot inline it, while plpgsql
-- keeps its plans for the connection's life. Measured on the new-session path, that was most of
-- its cost.

-- routing_ineligible_reason says why a user cannot be offered an SMS session now (inactive,
-- channel_disabled, not_available), or NULL when it can.
CREATE FUNCTION routing_ineligible_reason(p_tenant uuid, p_user uuid) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_active boolean;
    v_status text;
    v_sms boolean;
BEGIN
    SELECT u.active, u.status, COALESCE(uc.enabled, true) INTO v_active, v_status, v_sms
        FROM users u LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = 'sms'
        WHERE u.tenant_id = p_tenant AND u.id = p_user;
    RETURN CASE
        WHEN NOT FOUND OR NOT v_active THEN 'inactive'
        WHEN NOT v_sms THEN 'channel_disabled'
        WHEN v_status <> 'available' THEN 'not_available'
    END;
END
$$;

-- routing_queue_members lists a queue's effective members: its member users and the users of its
-- member teams, as the teams are now, active or not.
CREATE FUNCTION routing_queue_members(p_tenant uuid, p_queue uuid) RETURNS TABLE (user_id uuid) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
        SELECT qm.user_id FROM queue_members qm
        WHERE qm.tenant_id = p_tenant AND qm.queue_id = p_queue AND qm.user_id IS NOT NULL
        UNION
        SELECT tm.user_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
        WHERE qm.tenant_id = p_tenant AND qm.queue_id = p_queue AND qm.team_id IS NOT NULL;
END
$$;

-- routing_eligible_members lists the members of a queue that can be offered an SMS session now.
CREATE FUNCTION routing_eligible_members(p_tenant uuid, p_queue uuid) RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_users uuid[];
BEGIN
    SELECT COALESCE(array_agg(u.id ORDER BY u.id), '{}') INTO v_users
        FROM users u
        LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = 'sms'
        WHERE u.tenant_id = p_tenant AND u.active AND u.status = 'available' AND COALESCE(uc.enabled, true)
          AND u.id IN (
              SELECT qm.user_id FROM queue_members qm
              WHERE qm.tenant_id = p_tenant AND qm.queue_id = p_queue AND qm.user_id IS NOT NULL
              UNION
              SELECT tm.user_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
              WHERE qm.tenant_id = p_tenant AND qm.queue_id = p_queue AND qm.team_id IS NOT NULL);
    RETURN v_users;
END
$$;

-- routing_team_queue is a team's SMS queue, where its members' direct sessions go when neither
-- they nor their backups can take them: the first by name (then id) of the shared SMS queues the
-- team is a member of, or NULL.
CREATE FUNCTION routing_team_queue(p_tenant uuid, p_team uuid) RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_queue uuid;
BEGIN
    SELECT q.id INTO v_queue
        FROM queue_members qm JOIN queues q ON q.id = qm.queue_id
        WHERE qm.tenant_id = p_tenant AND qm.team_id = p_team AND q.kind = 'sms' AND q.personal_user_id IS NULL
        ORDER BY lower(q.name), q.id
        LIMIT 1;
    RETURN v_queue;
END
$$;

-- routing_personal_queue returns a user's personal SMS queue, creating it (with the user as its one
-- member) the first time; the unique personal_user_id makes concurrent first uses create one.
CREATE FUNCTION routing_personal_queue(p_tenant uuid, p_user uuid) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_queue uuid;
BEGIN
    SELECT q.id INTO v_queue FROM queues q WHERE q.personal_user_id = p_user AND q.tenant_id = p_tenant;
    IF FOUND THEN
        RETURN v_queue;
    END IF;
    INSERT INTO queues (tenant_id, name, kind, personal_user_id)
        SELECT u.tenant_id, 'Personal: ' || u.name, 'sms', u.id FROM users u WHERE u.tenant_id = p_tenant AND u.id = p_user
        ON CONFLICT (personal_user_id) DO NOTHING
        RETURNING id INTO v_queue;
    IF v_queue IS NOT NULL THEN
        INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES (p_tenant, v_queue, p_user) ON CONFLICT DO NOTHING;
        RETURN v_queue;
    END IF;
    SELECT q.id INTO v_queue FROM queues q WHERE q.personal_user_id = p_user AND q.tenant_id = p_tenant;
    RETURN v_queue;
END
$$;

-- routing_offer offers a session to users (skipping any who already hold a pending offer of it),
-- records the step on the timeline and tells each offered user. It returns how many offers it
-- made. direct offers go to one agent alone and count toward the missed-chat rule.
CREATE FUNCTION routing_offer(p_tenant uuid, p_session uuid, p_users uuid[], p_direct boolean, p_now timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_expires timestamptz;
    v_offered uuid[];
BEGIN
    IF cardinality(p_users) = 0 THEN
        RETURN 0;
    END IF;
    SELECT p_now + make_interval(secs => t.offer_timeout_seconds) INTO v_expires FROM tenants t WHERE t.id = p_tenant;
    WITH o AS (
        INSERT INTO offers (tenant_id, session_id, user_id, direct, created_at, expires_at)
        SELECT p_tenant, p_session, u, p_direct, p_now, v_expires FROM unnest(p_users) AS u
        ON CONFLICT (session_id, user_id) WHERE status = 'pending' DO NOTHING
        RETURNING id, user_id
    ), e AS (
        INSERT INTO events (tenant_id, user_id, type, data, created_at)
        SELECT p_tenant, o.user_id, 'session.offered', jsonb_build_object(
                'session_id', s.id, 'offer_id', o.id, 'type', s.type, 'queue_id', s.queue_id, 'number', s.number,
                'contact', c.address, 'direct', p_direct, 'expires_at', routing_ts(v_expires)), p_now
        FROM o, sessions s JOIN contacts c ON c.id = s.contact_id
        WHERE s.id = p_session
    )
    SELECT array_agg(o.user_id ORDER BY o.user_id) INTO v_offered FROM o;
    IF v_offered IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO session_events (tenant_id, session_id, kind, data, at)
        VALUES (p_tenant, p_session, 'offered', jsonb_build_object('user_ids', to_jsonb(v_offered), 'direct', p_direct, 'expires_at', routing_ts(v_expires)), p_now);
    RETURN cardinality(v_offered);
END
$$;

-- routing_move puts an unassigned session in a queue at a step of its fallback chain and records
-- the step; every step away from a plain offer to the owner counts as a reroute.
CREATE FUNCTION routing_move(p_tenant uuid, p_session uuid, p_queue uuid, p_step text, p_to jsonb, p_reason text, p_now timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions s SET queue_id = p_queue, route_step = p_step, rerouted_count = s.rerouted_count + 1
        WHERE s.tenant_id = p_tenant AND s.id = p_session;
    INSERT INTO session_events (tenant_id, session_id, kind, data, at)
        VALUES (p_tenant, p_session, 'rerouted', jsonb_build_object('step', p_step, 'to', p_to, 'queue_id', p_queue, 'reason', p_reason), p_now);
END
$$;

-- routing_fan_out offers a session in a shared queue to every eligible member, or records that
-- it waits there for one.
CREATE FUNCTION routing_fan_out(p_tenant uuid, p_session uuid, p_queue uuid, p_now timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    v_n := routing_offer(p_tenant, p_session, routing_eligible_members(p_tenant, p_queue), false, p_now);
    IF v_n = 0 THEN
        INSERT INTO session_events (tenant_id, session_id, kind, data, at)
            VALUES (p_tenant, p_session, 'waiting', jsonb_build_object('queue_id', p_queue, 'reason', 'no_eligible_member'), p_now);
    END IF;
    RETURN v_n;
END
$$;

-- routing_place decides who is offered an unassigned session, starting at step p_step of its
-- fallback chain, and returns how many offers it made:
--   queue-owned: every eligible member of the owner queue (direct = false); none waits there;
--   agent-owned: 'owner' offers to the owner when eligible, in its personal queue; else
--   'backup' moves it to the owner's backup user (when eligible; into the backup's personal
--   queue, a direct offer) or backup queue (fan-out); else 'team_queue' moves it to the owner's
--   primary team's SMS queue (the first, by name, of the shared SMS queues the team is a member
--   of; fan-out); else 'waiting' leaves it unassigned in the owner's personal queue, visible to
--   supervisors, offered to the owner if eligible again.
-- Every step taken or skipped, with why, goes on the session's timeline.
CREATE FUNCTION routing_place(p_tenant uuid, p_session uuid, p_step text, p_reason text, p_now timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_owner_user uuid;
    v_owner_queue uuid;
    v_step text := p_step;
    v_why text;
    v_queue uuid;
    v_backup_user uuid;
    v_backup_queue uuid;
    v_team uuid;
BEGIN
    SELECT s.owner_user_id, s.owner_queue_id INTO v_owner_user, v_owner_queue
        FROM sessions s WHERE s.tenant_id = p_tenant AND s.id = p_session;
    IF v_owner_user IS NULL THEN
        UPDATE sessions s SET queue_id = v_owner_queue, route_step = 'owner'
            WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.queue_id IS DISTINCT FROM v_owner_queue;
        RETURN routing_fan_out(p_tenant, p_session, v_owner_queue, p_now);
    END IF;
    LOOP
        CASE v_step
        WHEN 'owner' THEN
            v_why := routing_ineligible_reason(p_tenant, v_owner_user);
            IF v_why IS NULL THEN
                v_queue := routing_personal_queue(p_tenant, v_owner_user);
                UPDATE sessions s SET queue_id = v_queue, route_step = 'owner'
                    WHERE s.tenant_id = p_tenant AND s.id = p_session AND (s.queue_id IS DISTINCT FROM v_queue OR s.route_step <> 'owner');
                RETURN routing_offer(p_tenant, p_session, ARRAY[v_owner_user], true, p_now);
            END IF;
            INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                VALUES (p_tenant, p_session, 'skipped', jsonb_build_object('step', 'owner', 'user_id', v_owner_user, 'reason', v_why), p_now);
            v_step := 'backup';
        WHEN 'backup' THEN
            SELECT u.backup_user_id, u.backup_queue_id INTO v_backup_user, v_backup_queue
                FROM users u WHERE u.tenant_id = p_tenant AND u.id = v_owner_user;
            IF v_backup_user IS NOT NULL THEN
                v_why := routing_ineligible_reason(p_tenant, v_backup_user);
                IF v_why IS NULL THEN
                    v_queue := routing_personal_queue(p_tenant, v_backup_user);
                    PERFORM routing_move(p_tenant, p_session, v_queue, 'backup', jsonb_build_object('user_id', v_backup_user), p_reason, p_now);
                    RETURN routing_offer(p_tenant, p_session, ARRAY[v_backup_user], true, p_now);
                END IF;
                INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                    VALUES (p_tenant, p_session, 'skipped', jsonb_build_object('step', 'backup', 'user_id', v_backup_user, 'reason', v_why), p_now);
            ELSIF v_backup_queue IS NOT NULL AND EXISTS (SELECT 1 FROM queues q WHERE q.id = v_backup_queue AND q.kind = 'sms') THEN
                PERFORM routing_move(p_tenant, p_session, v_backup_queue, 'backup', jsonb_build_object('queue_id', v_backup_queue), p_reason, p_now);
                RETURN routing_fan_out(p_tenant, p_session, v_backup_queue, p_now);
            ELSE
                INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                    VALUES (p_tenant, p_session, 'skipped', jsonb_build_object('step', 'backup', 'reason', 'no_backup'), p_now);
            END IF;
            v_step := 'team_queue';
        WHEN 'team_queue' THEN
            SELECT u.primary_team_id INTO v_team FROM users u WHERE u.tenant_id = p_tenant AND u.id = v_owner_user;
            v_queue := routing_team_queue(p_tenant, v_team);
            IF v_queue IS NOT NULL THEN
                PERFORM routing_move(p_tenant, p_session, v_queue, 'team_queue', jsonb_build_object('queue_id', v_queue), p_reason, p_now);
                RETURN routing_fan_out(p_tenant, p_session, v_queue, p_now);
            END IF;
            INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                VALUES (p_tenant, p_session, 'skipped', jsonb_build_object('step', 'team_queue', 'team_id', v_team, 'reason', 'no_team_sms_queue'), p_now);
            v_step := 'waiting';
        ELSE
            v_queue := routing_personal_queue(p_tenant, v_owner_user);
            PERFORM routing_move(p_tenant, p_session, v_queue, 'waiting', jsonb_build_object('queue_id', v_queue), p_reason, p_now);
            IF routing_ineligible_reason(p_tenant, v_owner_user) IS NULL THEN
                RETURN routing_offer(p_tenant, p_session, ARRAY[v_owner_user], true, p_now);
            END IF;
            INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                VALUES (p_tenant, p_session, 'waiting', jsonb_build_object('queue_id', v_queue, 'reason', 'no_eligible_agent'), p_now);
            RETURN 0;
        END CASE;
    END LOOP;
END
$$;

-- routing_withdraw withdraws a session's pending offers and tells each user why.
CREATE FUNCTION routing_withdraw(p_tenant uuid, p_session uuid, p_except uuid, p_reason text, p_now timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    WITH w AS (
        UPDATE offers o SET status = 'withdrawn', resolved_at = p_now
        WHERE o.session_id = p_session AND o.tenant_id = p_tenant AND o.status = 'pending' AND o.user_id IS DISTINCT FROM p_except
        RETURNING o.id, o.user_id
    ), e AS (
        INSERT INTO events (tenant_id, user_id, type, data, created_at)
        SELECT p_tenant, w.user_id, 'session.withdrawn', jsonb_build_object('session_id', p_session, 'offer_id', w.id, 'reason', p_reason), p_now FROM w
    )
    SELECT count(*) INTO v_n FROM w;
    RETURN v_n;
END
$$;

-- routing_inbound stores one inbound text and routes it, in the caller's one transaction:
--   * the number must be in the carrier account whose credentials verified the webhook; else the
--     text is unrouted ('unknown_number', kept under the account's tenant), as it is when the
--     tenant has SMS off ('sms_disabled') or the number has no SMS owner ('no_owner');
--   * the contact is found or created; the contact's open session on the number is continued,
--     or a new one opened with its type fixed (direct number or not) and placed (routing_place);
--   * the message insert is the duplicate check: a carrier message id stored before violates
--     messages_carrier_message_key (also when the other copy commits while this one waits), the
--     statement fails and nothing of this call remains; a copy kept as unrouted, or routed,
--     before the number's configuration changed counts as stored too;
--   * consent keywords update the contact and queue the reply as an outbound message (status
--     queued: the outbox), at most one opt-out confirmation per opt-out, none when the carrier
--     account answers STOP itself, and nothing but the opt-in confirmation to an opted-out
--     contact. Reply texts come from the caller with {tenant} standing for the tenant's name;
--     tenants.help_text, when set, replaces the help text;
--   * real-time events go to the offered users, and message.received to the assignee, or to the
--     audience of the session's queue while it is unassigned. The caller notifies listeners
--     after commit (routing.Notifier).
CREATE FUNCTION routing_inbound(
    p_account_id uuid, p_provider text, p_carrier_message_id text, p_account_sid text,
    p_from text, p_from_kind text, p_to text,
    p_body text, p_media jsonb, p_segments integer, p_encoding text,
    p_keyword text, p_opt_out_text text, p_opt_in_text text, p_help_text text,
    p_now timestamptz
) RETURNS TABLE (outcome text, tenant_id uuid, session_id uuid, message_id uuid, new_session boolean, reply_ids uuid[], reply_bodies text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_tenant uuid;
    v_own_opt_out boolean;
    v_known boolean;
    v_seen_unrouted boolean;
    v_direct boolean;
    v_owner_user uuid;
    v_owner_queue uuid;
    v_sms boolean;
    v_name text;
    v_help text;
    v_contact uuid;
    v_opted_out boolean;
    v_session uuid;
    v_queue uuid;
    v_assignee uuid;
    v_new boolean := false;
    v_message uuid;
    v_reason text;
    v_reply_kind text;
    v_reply_body text;
    v_reply uuid;
    v_owner_ok boolean;
    v_offer_timeout integer;
    v_expires timestamptz;
BEGIN
    -- One lookup: the account's tenant and settings, the number texted if it is in that
    -- account, and whether this text was kept as unrouted before.
    SELECT a.tenant_id, a.sends_own_opt_out_confirmation, n.id IS NOT NULL, n.direct, n.sms_user_id, n.sms_queue_id,
           t.sms_enabled, t.name, t.help_text, t.offer_timeout_seconds,
           EXISTS (SELECT 1 FROM unrouted_messages u WHERE u.provider = p_provider AND u.carrier_message_id = p_carrier_message_id)
        INTO v_tenant, v_own_opt_out, v_known, v_direct, v_owner_user, v_owner_queue, v_sms, v_name, v_help, v_offer_timeout, v_seen_unrouted
        FROM carrier_accounts a
        JOIN tenants t ON t.id = a.tenant_id
        LEFT JOIN numbers n ON n.e164 = p_to AND n.carrier_account_id = a.id AND n.tenant_id = a.tenant_id
        WHERE a.id = p_account_id;
    IF NOT COALESCE(v_known, false) THEN
        v_reason := 'unknown_number';
    ELSIF NOT v_sms THEN
        v_reason := 'sms_disabled';
    ELSIF v_owner_user IS NULL AND v_owner_queue IS NULL THEN
        v_reason := 'no_owner';
    END IF;
    tenant_id := v_tenant;
    new_session := false;
    IF v_reason IS NOT NULL THEN
        -- A text is stored once across both tables: a copy routed before (the number was
        -- configured then) is a duplicate too.
        outcome := 'duplicate';
        IF NOT v_seen_unrouted
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.provider = p_provider AND m.carrier_message_id = p_carrier_message_id) THEN
            INSERT INTO unrouted_messages (tenant_id, provider, carrier_message_id, account_sid, from_address, to_address, body, reason, received_at)
                VALUES (v_tenant, p_provider, p_carrier_message_id, p_account_sid, p_from, p_to, p_body, v_reason, p_now)
                ON CONFLICT ON CONSTRAINT unrouted_messages_carrier_message_key DO NOTHING;
            IF FOUND THEN
                outcome := 'unrouted:' || v_reason;
            END IF;
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_seen_unrouted THEN
        RAISE EXCEPTION USING ERRCODE = 'unique_violation', CONSTRAINT = 'messages_carrier_message_key',
            MESSAGE = 'the text was stored as unrouted before';
    END IF;

    -- The common case, a known contact's open session, is one statement: continue the session,
    -- store the text, tell the assignee or the queue.
    -- The contact is looked up first (a subquery, not a join) so the session is found through
    -- all of sessions_open_key whatever the statistics say.
    WITH s AS (
        UPDATE sessions s SET last_message_at = p_now, last_inbound_at = p_now
            WHERE s.tenant_id = v_tenant
              AND s.contact_id = (SELECT c.id FROM contacts c WHERE c.tenant_id = v_tenant AND c.address = p_from)
              AND s.number = p_to AND s.status = 'open'
            RETURNING s.id, s.queue_id, s.assignee_id, s.contact_id
    ), m AS (
        INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                              provider, carrier_message_id, status, created_at, status_changed_at)
            SELECT v_tenant, s.id, 'in', 'text', p_from, p_to, p_body, p_media, p_segments, p_encoding,
                   p_provider, p_carrier_message_id, 'received', p_now, p_now
            FROM s
            RETURNING id
    ), e AS (
        INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
            SELECT v_tenant, s.assignee_id, CASE WHEN s.assignee_id IS NULL THEN s.queue_id END, 'message.received',
                   jsonb_build_object('session_id', s.id, 'message_id', m.id, 'contact', p_from, 'number', p_to,
                                      'body', p_body, 'created_at', routing_ts(p_now)), p_now
            FROM s, m
    )
    SELECT s.id, s.contact_id, m.id INTO v_session, v_contact, v_message FROM s, m;

    IF v_session IS NULL THEN
        SELECT c.id, c.opted_out INTO v_contact, v_opted_out FROM contacts c WHERE c.tenant_id = v_tenant AND c.address = p_from;
        IF NOT FOUND THEN
            INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES (v_tenant, p_from, p_from_kind, p_now)
                ON CONFLICT ON CONSTRAINT contacts_address_key DO NOTHING
                RETURNING id, opted_out INTO v_contact, v_opted_out;
            IF v_contact IS NULL THEN
                SELECT c.id, c.opted_out INTO v_contact, v_opted_out FROM contacts c WHERE c.tenant_id = v_tenant AND c.address = p_from;
            END IF;
        END IF;
        IF v_owner_user IS NOT NULL THEN
            v_queue := routing_personal_queue(v_tenant, v_owner_user);
            v_owner_ok := routing_ineligible_reason(v_tenant, v_owner_user) IS NULL;
        ELSE
            v_queue := v_owner_queue;
            v_owner_ok := true;
        END IF;
        IF v_owner_ok THEN
            -- The usual new session, offered to its available owner or to its queue's eligible
            -- members, is one statement: session, message, offers, their events and timeline.
            v_expires := p_now + make_interval(secs => v_offer_timeout);
            WITH s AS (
                INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, owner_queue_id, queue_id,
                                      first_inbound_at, last_inbound_at, last_message_at, created_at)
                    VALUES (v_tenant, v_contact, p_to,
                            CASE WHEN v_direct THEN 'Messaging Inbound (SMS Direct)' ELSE 'Messaging Inbound' END,
                            v_owner_user, v_owner_queue, v_queue, p_now, p_now, p_now, p_now)
                    ON CONFLICT DO NOTHING
                    RETURNING id, type
            ), m AS (
                INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                                      provider, carrier_message_id, status, created_at, status_changed_at)
                    SELECT v_tenant, s.id, 'in', 'text', p_from, p_to, p_body, p_media, p_segments, p_encoding,
                           p_provider, p_carrier_message_id, 'received', p_now, p_now
                    FROM s
                    RETURNING id
            ), o AS (
                INSERT INTO offers (tenant_id, session_id, user_id, direct, created_at, expires_at)
                    SELECT v_tenant, s.id, u, v_owner_user IS NOT NULL, p_now, v_expires
                    FROM s, unnest(CASE WHEN v_owner_user IS NOT NULL THEN ARRAY[v_owner_user]
                                        ELSE routing_eligible_members(v_tenant, v_owner_queue) END) AS u
                    RETURNING id, user_id
            ), e AS (
                INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                    SELECT v_tenant, o.user_id, NULL, 'session.offered', jsonb_build_object(
                            'session_id', s.id, 'offer_id', o.id, 'type', s.type, 'queue_id', v_queue, 'number', p_to,
                            'contact', p_from, 'direct', v_owner_user IS NOT NULL, 'expires_at', routing_ts(v_expires)), p_now
                    FROM s, o
                    UNION ALL
                    SELECT v_tenant, NULL, v_queue, 'message.received', jsonb_build_object(
                            'session_id', s.id, 'message_id', m.id, 'contact', p_from, 'number', p_to,
                            'body', p_body, 'created_at', routing_ts(p_now)), p_now
                    FROM s, m
            ), t AS (
                INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                    SELECT v_tenant, s.id, 'created', jsonb_build_object('message_id', m.id, 'owner',
                            CASE WHEN v_owner_user IS NOT NULL THEN jsonb_build_object('user_id', v_owner_user)
                                 ELSE jsonb_build_object('queue_id', v_owner_queue) END), p_now
                    FROM s, m
                    UNION ALL
                    SELECT v_tenant, s.id, 'offered', jsonb_build_object('user_ids', x.users, 'direct', v_owner_user IS NOT NULL,
                            'expires_at', routing_ts(v_expires)), p_now
                    FROM s, (SELECT jsonb_agg(o.user_id ORDER BY o.user_id) AS users FROM o) x
                    WHERE x.users IS NOT NULL
                    UNION ALL
                    SELECT v_tenant, s.id, 'waiting', jsonb_build_object('queue_id', v_queue, 'reason', 'no_eligible_member'), p_now
                    FROM s
                    WHERE NOT EXISTS (SELECT 1 FROM o)
            )
            SELECT s.id, m.id INTO v_session, v_message FROM s, m;
            v_new := v_session IS NOT NULL;
        ELSE
            INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, owner_queue_id, queue_id,
                                  first_inbound_at, last_inbound_at, last_message_at, created_at)
                VALUES (v_tenant, v_contact, p_to,
                        CASE WHEN v_direct THEN 'Messaging Inbound (SMS Direct)' ELSE 'Messaging Inbound' END,
                        v_owner_user, v_owner_queue, v_queue, p_now, p_now, p_now, p_now)
                ON CONFLICT DO NOTHING
                RETURNING id INTO v_session;
            IF v_session IS NOT NULL THEN
                -- The owner cannot take it: the fallback chain decides where it goes.
                v_new := true;
                INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                                      provider, carrier_message_id, status, created_at, status_changed_at)
                    VALUES (v_tenant, v_session, 'in', 'text', p_from, p_to, p_body, p_media, p_segments, p_encoding,
                            p_provider, p_carrier_message_id, 'received', p_now, p_now)
                    RETURNING id INTO v_message;
                INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                    VALUES (v_tenant, v_session, 'created', jsonb_build_object('message_id', v_message, 'owner', jsonb_build_object('user_id', v_owner_user)), p_now);
                PERFORM routing_place(v_tenant, v_session, 'owner', 'new_session', p_now);
                SELECT s.queue_id INTO v_queue FROM sessions s WHERE s.id = v_session;
                INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                    VALUES (v_tenant, NULL, v_queue, 'message.received',
                            jsonb_build_object('session_id', v_session, 'message_id', v_message, 'contact', p_from, 'number', p_to,
                                               'body', p_body, 'created_at', routing_ts(p_now)), p_now);
            END IF;
        END IF;
        IF v_session IS NULL THEN
            -- Another text of the contact opened the session meanwhile: continue that one.
            UPDATE sessions s SET last_message_at = p_now, last_inbound_at = p_now
                WHERE s.tenant_id = v_tenant AND s.contact_id = v_contact AND s.number = p_to AND s.status = 'open'
                RETURNING s.id, s.queue_id, s.assignee_id INTO v_session, v_queue, v_assignee;
            INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                                  provider, carrier_message_id, status, created_at, status_changed_at)
                VALUES (v_tenant, v_session, 'in', 'text', p_from, p_to, p_body, p_media, p_segments, p_encoding,
                        p_provider, p_carrier_message_id, 'received', p_now, p_now)
                RETURNING id INTO v_message;
            INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                VALUES (v_tenant, v_assignee, CASE WHEN v_assignee IS NULL THEN v_queue END, 'message.received',
                        jsonb_build_object('session_id', v_session, 'message_id', v_message, 'contact', p_from, 'number', p_to,
                                           'body', p_body, 'created_at', routing_ts(p_now)), p_now);
        END IF;
    END IF;
    outcome := 'routed';
    session_id := v_session;
    message_id := v_message;
    new_session := v_new;

    IF p_keyword = '' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_opted_out IS NULL THEN
        SELECT c.opted_out INTO v_opted_out FROM contacts c WHERE c.id = v_contact;
    END IF;
    IF p_keyword = 'opt_out' THEN
        UPDATE contacts c SET opted_out = true, opted_out_at = CASE WHEN c.opted_out THEN c.opted_out_at ELSE p_now END
            WHERE c.id = v_contact;
        IF NOT v_own_opt_out THEN
            -- The row lock taken above makes a concurrent STOP wait here and then see the claim.
            UPDATE contacts c SET opt_out_confirmed_at = p_now WHERE c.id = v_contact AND c.opt_out_confirmed_at IS NULL;
            IF FOUND THEN
                v_reply_kind := 'opt_out_confirmation';
                v_reply_body := p_opt_out_text;
            END IF;
        END IF;
    ELSIF p_keyword = 'opt_in' THEN
        UPDATE contacts c SET opted_out = false, opted_in_at = p_now, opt_out_confirmed_at = NULL
            WHERE c.id = v_contact AND c.opted_out;
        IF FOUND THEN
            v_reply_kind := 'opt_in_confirmation';
            v_reply_body := p_opt_in_text;
        END IF;
    ELSIF p_keyword = 'help' AND NOT v_opted_out THEN
        v_reply_kind := 'help';
        v_reply_body := COALESCE(NULLIF(v_help, ''), p_help_text);
    END IF;
    IF v_reply_kind IS NOT NULL THEN
        v_reply_body := replace(v_reply_body, '{tenant}', v_name);
        INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, provider, status, created_at, status_changed_at)
            VALUES (v_tenant, v_session, 'out', v_reply_kind, p_to, p_from, v_reply_body, p_provider, 'queued', p_now, p_now)
            RETURNING id INTO v_reply;
        reply_ids := ARRAY[v_reply];
        reply_bodies := ARRAY[v_reply_body];
    END IF;
    INSERT INTO session_events (tenant_id, session_id, kind, data, at)
        VALUES (v_tenant, v_session, 'consent', jsonb_build_object('keyword', p_keyword, 'reply', v_reply_kind, 'message_id', v_reply), p_now);
    RETURN NEXT;
END
$$;

-- routing_reroute moves an open, unassigned session one step along its fallback chain (a
-- queue-owned session stays in its queue and is offered afresh), withdrawing its pending offers
-- first. It answers 'rerouted', or why not: 'not_found', 'closed', 'assigned'.
CREATE FUNCTION routing_reroute(p_tenant uuid, p_session uuid, p_reason text, p_now timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_assignee uuid;
    v_owner_user uuid;
    v_step text;
BEGIN
    SELECT s.status, s.assignee_id, s.owner_user_id, s.route_step INTO v_status, v_assignee, v_owner_user, v_step
        FROM sessions s WHERE s.tenant_id = p_tenant AND s.id = p_session
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    ELSIF v_status <> 'open' THEN
        RETURN 'closed';
    ELSIF v_assignee IS NOT NULL THEN
        RETURN 'assigned';
    END IF;
    PERFORM routing_withdraw(p_tenant, p_session, NULL, 'rerouted', p_now);
    IF v_owner_user IS NOT NULL THEN
        v_step := CASE v_step WHEN 'owner' THEN 'backup' WHEN 'backup' THEN 'team_queue' ELSE 'waiting' END;
    END IF;
    PERFORM routing_place(p_tenant, p_session, v_step, p_reason, p_now);
    PERFORM pg_notify('directsms_events', '');
    RETURN 'rerouted';
END
$$;

-- routing_offer_waiting offers a newly eligible user every open, unassigned session waiting in a
-- queue it is an effective member of and not already offered to it: directly in its personal
-- queue, as a queue member elsewhere. It returns how many offers it made.
CREATE FUNCTION routing_offer_waiting(p_tenant uuid, p_user uuid, p_now timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_n integer := 0;
BEGIN
    IF routing_ineligible_reason(p_tenant, p_user) IS NOT NULL THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT s.id, q.personal_user_id IS NOT NULL AS direct
        FROM sessions s JOIN queues q ON q.id = s.queue_id
        WHERE s.tenant_id = p_tenant AND s.status = 'open' AND s.assignee_id IS NULL
          AND s.queue_id IN (
              SELECT qm.queue_id FROM queue_members qm WHERE qm.tenant_id = p_tenant AND qm.user_id = p_user
              UNION
              SELECT qm.queue_id FROM team_members tm JOIN queue_members qm ON qm.team_id = tm.team_id
              WHERE tm.tenant_id = p_tenant AND tm.user_id = p_user)
          AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.session_id = s.id AND o.user_id = p_user AND o.status = 'pending')
        ORDER BY s.created_at, s.id
        FOR UPDATE OF s
    LOOP
        v_n := v_n + routing_offer(p_tenant, r.id, ARRAY[p_user], r.direct, p_now);
    END LOOP;
    IF v_n > 0 THEN
        PERFORM pg_notify('directsms_events', '');
    END IF;
    RETURN v_n;
END
$$;

-- routing_accept makes p_user the assignee of an open, unassigned session, first come first
-- served: the conditional update is the race's referee. The user's advisory lock serialises its
-- own accepts, so two sessions accepted at once cannot both slip under its capacity. Admins and
-- supervisors may take any session, agents one offered to them or waiting in one of their
-- queues. Answers 'accepted', 'mine' (already the assignee), or why not: 'not_found',
-- 'closed', 'already_assigned', 'channel_disabled', 'at_capacity'.
CREATE FUNCTION routing_accept(p_tenant uuid, p_session uuid, p_user uuid, p_role text, p_now timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_assignee uuid;
    v_queue uuid;
    v_why text;
    v_capacity integer;
    v_open integer;
    v_team uuid;
BEGIN
    SELECT s.status, s.assignee_id, s.queue_id INTO v_status, v_assignee, v_queue
        FROM sessions s WHERE s.tenant_id = p_tenant AND s.id = p_session;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF p_role = 'agent' AND v_assignee IS DISTINCT FROM p_user
        AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.session_id = p_session AND o.user_id = p_user AND o.status = 'pending')
        AND NOT EXISTS (SELECT 1 FROM routing_queue_members(p_tenant, v_queue) m WHERE m.user_id = p_user) THEN
        RETURN 'not_found';
    END IF;
    IF v_status <> 'open' THEN
        RETURN 'closed';
    ELSIF v_assignee = p_user THEN
        RETURN 'mine';
    ELSIF v_assignee IS NOT NULL THEN
        RETURN 'already_assigned';
    END IF;
    v_why := routing_ineligible_reason(p_tenant, p_user);
    IF v_why IN ('inactive', 'channel_disabled') THEN
        RETURN 'channel_disabled';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('directsms.accept'), hashtext(p_user::text));
    SELECT COALESCE(uc.capacity, tc.capacity, 4) INTO v_capacity
        FROM users u
        LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = 'sms'
        LEFT JOIN tenant_channels tc ON tc.tenant_id = u.tenant_id AND tc.channel = 'sms'
        WHERE u.tenant_id = p_tenant AND u.id = p_user;
    SELECT count(*) INTO v_open FROM sessions s WHERE s.assignee_id = p_user AND s.status = 'open';
    IF v_open >= v_capacity THEN
        RETURN 'at_capacity';
    END IF;
    SELECT u.primary_team_id INTO v_team FROM users u WHERE u.tenant_id = p_tenant AND u.id = p_user;
    UPDATE sessions s SET assignee_id = p_user, assigned_at = p_now, team_id = v_team
        WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.assignee_id IS NULL AND s.status = 'open';
    IF NOT FOUND THEN
        SELECT s.status, s.assignee_id INTO v_status, v_assignee FROM sessions s WHERE s.id = p_session;
        IF v_status <> 'open' THEN
            RETURN 'closed';
        ELSIF v_assignee = p_user THEN
            RETURN 'mine';
        END IF;
        RETURN 'already_assigned';
    END IF;
    UPDATE offers o SET status = 'accepted', resolved_at = p_now
        WHERE o.session_id = p_session AND o.user_id = p_user AND o.status = 'pending';
    IF FOUND THEN
        -- An accepted offer ends the agent's run of missed offers.
        UPDATE users u SET missed_count = 0 WHERE u.tenant_id = p_tenant AND u.id = p_user AND u.missed_count <> 0;
    END IF;
    PERFORM routing_withdraw(p_tenant, p_session, p_user, 'assigned', p_now);
    INSERT INTO session_events (tenant_id, session_id, kind, data, at)
        VALUES (p_tenant, p_session, 'assigned', jsonb_build_object('user_id', p_user, 'team_id', v_team), p_now);
    INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
        SELECT p_tenant, x.user_id, x.queue_id, 'session.assigned',
               jsonb_build_object('session_id', p_session, 'assignee_id', p_user, 'queue_id', v_queue), p_now
        FROM (VALUES (p_user, NULL::uuid), (NULL::uuid, v_queue)) AS x(user_id, queue_id)
        WHERE x.user_id IS NOT NULL OR x.queue_id IS NOT NULL;
    PERFORM pg_notify('directsms_events', '');
    RETURN 'accepted';
END
$$;

-- routing_close closes an open session, withdrawing its pending offers, and tells the assignee,
-- or the queue's audience while unassigned. Answers 'closed', or 'not_found' / 'already_closed'.
CREATE FUNCTION routing_close(p_tenant uuid, p_session uuid, p_reason text, p_by uuid, p_now timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_assignee uuid;
    v_queue uuid;
BEGIN
    UPDATE sessions s SET status = 'closed', closed_at = p_now, close_reason = p_reason
        WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.status = 'open'
        RETURNING s.assignee_id, s.queue_id INTO v_assignee, v_queue;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = p_tenant AND s.id = p_session) THEN
            RETURN 'already_closed';
        END IF;
        RETURN 'not_found';
    END IF;
    PERFORM routing_withdraw(p_tenant, p_session, NULL, 'closed', p_now);
    INSERT INTO session_events (tenant_id, session_id, kind, data, at)
        VALUES (p_tenant, p_session, 'closed', jsonb_build_object('reason', p_reason, 'user_id', p_by), p_now);
    INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
        VALUES (p_tenant, v_assignee, CASE WHEN v_assignee IS NULL THEN v_queue END, 'session.closed',
                jsonb_build_object('session_id', p_session, 'status', 'closed', 'reason', p_reason), p_now);
    PERFORM pg_notify('directsms_events', '');
    RETURN 'closed';
END
$$;

-- routing_close_idle closes up to p_limit open sessions whose last message is older than their
-- tenant's session_idle_close_seconds, and answers how many it closed. Sessions another
-- transaction holds (a text arriving now) are skipped and judged on the next run, so an idle
-- close never races an inbound text; several processes may run it at once.
CREATE FUNCTION routing_close_idle(p_now timestamptz, p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_n integer := 0;
BEGIN
    FOR r IN
        SELECT s.tenant_id, s.id
        FROM sessions s JOIN tenants t ON t.id = s.tenant_id
        WHERE s.status = 'open' AND s.last_message_at <= p_now - make_interval(secs => t.session_idle_close_seconds)
        ORDER BY s.last_message_at
        LIMIT p_limit
        FOR UPDATE OF s SKIP LOCKED
    LOOP
        IF routing_close(r.tenant_id, r.id, 'idle', NULL, p_now) = 'closed' THEN
            v_n := v_n + 1;
        END IF;
    END LOOP;
    RETURN v_n;
END
$$;
