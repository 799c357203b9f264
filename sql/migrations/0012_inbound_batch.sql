-- Inbound texts in batches: the webhooks of concurrent requests are stored and routed together,
-- in one transaction and one round trip (routing.Service.Inbound's batcher), so that a commit,
-- a disk flush and the work of each statement are shared by many texts.

-- A foreign key to sessions (tenant_id, id) is checked with `WHERE tenant_id = $1 AND id = $2`,
-- planned once per connection and kept. On a new database, with the table still nearly empty,
-- sessions_tenant_created_idx (tenant_id, created_at) costs the same as the key's own index and,
-- created later, won the tie: every message, offer and timeline row then read all of its
-- tenant's sessions to find one (measured: 78 million index tuples for 9,500 texts). The keys
-- that exist for composite foreign keys now lead with id: created last, they win the tie for
-- the checks, and no lookup by tenant alone can be planned through them. numbers (tenant_id,
-- id, direct) lost the same tie to numbers_tenant_e164_idx. sql/migrations'
-- TestForeignKeys_CheckThroughTheirKey and TestHotLookups_UseTheirIndexOnAnEmptyDatabase check
-- the plans on an empty database.
ALTER TABLE messages DROP CONSTRAINT messages_session_fkey;
ALTER TABLE offers DROP CONSTRAINT offers_session_fkey;
ALTER TABLE session_events DROP CONSTRAINT session_events_session_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_tenant_id_key;
ALTER TABLE sessions ADD CONSTRAINT sessions_tenant_id_key UNIQUE (id, tenant_id);
ALTER TABLE messages ADD CONSTRAINT messages_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE offers ADD CONSTRAINT offers_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE session_events ADD CONSTRAINT session_events_session_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE number_outbound DROP CONSTRAINT number_outbound_number_fkey;
ALTER TABLE numbers DROP CONSTRAINT numbers_tenant_id_direct_key;
ALTER TABLE numbers ADD CONSTRAINT numbers_tenant_id_direct_key UNIQUE (id, tenant_id, direct);
ALTER TABLE number_outbound ADD CONSTRAINT number_outbound_number_fkey FOREIGN KEY (tenant_id, number_id, number_direct)
    REFERENCES numbers (tenant_id, id, direct) ON DELETE CASCADE;

-- A contact is looked up by (tenant_id, address) on every text. With the key in that order, it
-- tied with (tenant_id, id) on an empty table and lost: on a new database every lookup read all
-- of the tenant's contacts (15 million index tuples in the first ten seconds of the bench).
-- Address first, the key is the only index the lookup can search by both columns.
ALTER TABLE contacts DROP CONSTRAINT contacts_address_key;
ALTER TABLE contacts ADD CONSTRAINT contacts_address_key UNIQUE (address, tenant_id);

-- Two more lookups of every text lost such ties on an empty table: the contact's open session
-- on the number to a scan of sessions_queue_open_idx (every open session), and the number
-- texted to numbers_carrier_account_idx (every number of the account). Created last, their own
-- indexes win.
DROP INDEX sessions_open_key;
CREATE UNIQUE INDEX sessions_open_key ON sessions (tenant_id, contact_id, number) WHERE status = 'open';
ALTER TABLE numbers DROP CONSTRAINT numbers_e164_key;
ALTER TABLE numbers ADD CONSTRAINT numbers_e164_key UNIQUE (e164);

-- One text of a batch, as routing.Service sends it: idx numbers the batch's texts from 0, and
-- `at` is when the text's webhook arrived.
CREATE TYPE routing_inbound_item AS (
    idx                 integer,
    account_id          uuid,
    provider            text,
    carrier_message_id  text,
    account_sid         text,
    from_address        text,
    from_kind           text,
    to_address          text,
    body                text,
    media               jsonb,
    segments            integer,
    encoding            text,
    keyword             text,
    at                  timestamptz
);

-- What the batch answers for one text, before the deflection columns are added.
CREATE TYPE routing_inbound_result AS (
    idx          integer,
    outcome      text,
    tenant_id    uuid,
    session_id   uuid,
    message_id   uuid,
    new_session  boolean,
    reply_id     uuid,
    reply_body   text
);

-- routing_inbound_batch stores and routes a batch of texts in the caller's one transaction, with
-- the rules of routing_inbound, and answers one row per text (by idx) with what routing_inbound
-- answers, a reply's id and body, and the after-hours deflection settings and state of the
-- session a routed text went to (see routing/deflect.go).
--
--   * A text stored before (routed or unrouted), or earlier in the batch, is a duplicate.
--   * The usual text — no keyword, from a known contact with an open session on a number with
--     an owner — is handled for the whole batch by one statement: its session continued, the
--     message stored, the assignee or the queue told. The sessions are locked first, in id order,
--     so that concurrent batches wait for one another instead of deadlocking.
--   * A contact's first text to a number (alone of its pair in the batch) opens its session, for
--     the whole batch in one statement: offered at once to an available agent or a queue's
--     eligible members, or, when the agent cannot take it, placed along the owner's fallback
--     chain (routing_place) afterwards, one session at a time.
--   * Every other text (a keyword, an unknown number...) goes through
--     routing_inbound, one at a time, in the order of tenant, number, contact and arrival.
--   * A copy of a text being stored by another transaction at the same moment makes the batch
--     fail on messages_carrier_message_key, as it makes routing_inbound fail: the caller runs
--     the batch again, and the duplicate check finds the copy.
--
-- The number, the contact and the open session are looked up as LATERAL subqueries with LIMIT
-- (each finds one row by a unique key), which PostgreSQL plans by themselves, as searches of
-- the key by every column: joined, they were planned as a hash or a scan by tenant while the
-- tables were nearly empty, and the plan kept.
CREATE FUNCTION routing_inbound_batch(p_items jsonb, p_opt_out_text text, p_opt_in_text text, p_help_text text)
RETURNS TABLE (idx integer, outcome text, tenant_id uuid, session_id uuid, message_id uuid, new_session boolean,
               reply_id uuid, reply_body text,
               deflection_source text, deflection_enabled boolean, deflection_hours jsonb, deflection_message text,
               deflection_timezone text, deflected_period timestamptz, last_agent_reply_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_items routing_inbound_item[];
    v_dup integer[];
    v_fast_idx integer[];
    v_fast_session uuid[];
    v_new integer[];
    v_place_idx integer[] := '{}';
    v_place_session uuid[];
    v_place_message uuid[];
    v_slow integer[];
    v_results routing_inbound_result[] := '{}';
    v_item routing_inbound_item;
    v_n integer;
BEGIN
    SELECT array_agg(j ORDER BY j.idx) INTO v_items FROM jsonb_populate_recordset(NULL::routing_inbound_item, p_items) j;

    -- Duplicates; texts of the usual case, with their open sessions; and first texts of a
    -- contact to a number, alone of their pair in the batch.
    WITH i AS (
        SELECT * FROM unnest(v_items)
    ), d AS (
        SELECT i.idx FROM i
        WHERE EXISTS (SELECT 1 FROM i j WHERE j.provider = i.provider AND j.carrier_message_id = i.carrier_message_id AND j.idx < i.idx)
           OR EXISTS (SELECT 1 FROM messages m WHERE m.provider = i.provider AND m.carrier_message_id = i.carrier_message_id)
           OR EXISTS (SELECT 1 FROM unrouted_messages u WHERE u.provider = i.provider AND u.carrier_message_id = i.carrier_message_id)
    ), c AS (
        SELECT i.idx, s.id AS session_id,
               NOT EXISTS (SELECT 1 FROM i j WHERE j.account_id = i.account_id AND j.from_address = i.from_address
                                                AND j.to_address = i.to_address AND j.idx <> i.idx) AS alone
        FROM i
        JOIN carrier_accounts a ON a.id = i.account_id
        JOIN tenants t ON t.id = a.tenant_id
        JOIN LATERAL (
            SELECT n.sms_user_id, n.sms_queue_id FROM numbers n
            WHERE n.e164 = i.to_address AND n.carrier_account_id = a.id AND n.tenant_id = a.tenant_id LIMIT 1
        ) n ON true
        LEFT JOIN LATERAL (
            SELECT c.id FROM contacts c WHERE c.address = i.from_address AND c.tenant_id = a.tenant_id LIMIT 1
        ) c ON true
        LEFT JOIN LATERAL (
            SELECT s.id FROM sessions s
            WHERE s.tenant_id = a.tenant_id AND s.contact_id = c.id AND s.number = i.to_address AND s.status = 'open' LIMIT 1
        ) s ON true
        WHERE i.keyword = '' AND t.sms_enabled AND (n.sms_user_id IS NOT NULL OR n.sms_queue_id IS NOT NULL)
          AND i.idx NOT IN (SELECT d.idx FROM d)
    )
    SELECT (SELECT COALESCE(array_agg(d.idx), '{}') FROM d),
           COALESCE(array_agg(c.idx ORDER BY c.session_id, c.idx) FILTER (WHERE c.session_id IS NOT NULL), '{}'),
           COALESCE(array_agg(c.session_id ORDER BY c.session_id, c.idx) FILTER (WHERE c.session_id IS NOT NULL), '{}'),
           COALESCE(array_agg(c.idx ORDER BY c.idx) FILTER (WHERE c.session_id IS NULL AND c.alone), '{}')
        INTO v_dup, v_fast_idx, v_fast_session, v_new
        FROM c;

    -- Until the setting is turned off again, the statements count the messages they store on
    -- their sessions themselves (see messages_count_sessions below).
    PERFORM set_config('directsms.messages_counted', 'on', true);
    IF cardinality(v_fast_idx) > 0 THEN
        -- A session closed meanwhile (an idle close) is not updated: its texts go the other way.
        WITH f AS (
            SELECT f.session_id, i.* FROM unnest(v_fast_idx, v_fast_session) AS f(idx, session_id)
            JOIN unnest(v_items) i ON i.idx = f.idx
        ), l AS (
            SELECT s.id FROM sessions s WHERE s.id = ANY(v_fast_session) AND s.status = 'open' ORDER BY s.id FOR UPDATE
        ), s AS (
            UPDATE sessions s SET last_message_at = GREATEST(s.last_message_at, g.at), last_inbound_at = GREATEST(s.last_inbound_at, g.at),
                                  messages_in = s.messages_in + g.n, first_message_in_at = LEAST(s.first_message_in_at, g.first_at)
            FROM (SELECT f.session_id, max(f.at) AS at, min(f.at) AS first_at, count(*) AS n FROM f GROUP BY f.session_id) g, l
            WHERE s.id = g.session_id AND l.id = g.session_id
            RETURNING s.id, s.tenant_id, s.queue_id, s.assignee_id
        ), m AS (
            INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                                  provider, carrier_message_id, status, created_at, status_changed_at)
                SELECT s.tenant_id, s.id, 'in', 'text', f.from_address, f.to_address, f.body, f.media, f.segments, f.encoding,
                       f.provider, f.carrier_message_id, 'received', f.at, f.at
                FROM f JOIN s ON s.id = f.session_id
                ORDER BY f.idx
                RETURNING id, session_id, provider, carrier_message_id
        ), e AS (
            INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                SELECT s.tenant_id, s.assignee_id, CASE WHEN s.assignee_id IS NULL THEN s.queue_id END, 'message.received',
                       jsonb_build_object('session_id', s.id, 'message_id', m.id, 'contact', f.from_address, 'number', f.to_address,
                                          'body', f.body, 'created_at', routing_ts(f.at)), f.at
                FROM m JOIN s ON s.id = m.session_id JOIN f ON f.provider = m.provider AND f.carrier_message_id = m.carrier_message_id
                ORDER BY f.idx
        )
        SELECT v_results || COALESCE(array_agg(ROW(f.idx, 'routed', s.tenant_id, s.id, m.id, false, NULL, NULL)::routing_inbound_result), '{}')
        INTO v_results
        FROM f JOIN s ON s.id = f.session_id JOIN m ON m.provider = f.provider AND m.carrier_message_id = f.carrier_message_id;
    END IF;

    -- A contact's first text to a number, the only one of the pair in the batch: sessions opened
    -- for the whole batch, as routing_inbound opens one. One the owner can take (an available
    -- agent, or a queue) is offered and its offered users and queue told at once; one whose agent
    -- cannot take it now (away, sms off...) waits in the agent's personal queue until
    -- routing_place, below, walks the fallback chain. A session another transaction opened
    -- meanwhile is left alone, and its text goes the other way.
    IF cardinality(v_new) > 0 THEN
        INSERT INTO contacts (tenant_id, address, kind, created_at)
            SELECT a.tenant_id, i.from_address, i.from_kind, i.at
            FROM unnest(v_items) i JOIN carrier_accounts a ON a.id = i.account_id
            WHERE i.idx = ANY (v_new)
            ORDER BY a.tenant_id, i.from_address
            ON CONFLICT ON CONSTRAINT contacts_address_key DO NOTHING;
        WITH x AS (
            SELECT i.*, a.tenant_id, n.direct, n.sms_user_id AS owner_user, n.sms_queue_id AS owner_queue,
                   t.offer_timeout_seconds, c.id AS contact_id
            FROM unnest(v_items) i
            JOIN carrier_accounts a ON a.id = i.account_id
            JOIN tenants t ON t.id = a.tenant_id
            JOIN LATERAL (
                SELECT n.direct, n.sms_user_id, n.sms_queue_id FROM numbers n
                WHERE n.e164 = i.to_address AND n.carrier_account_id = a.id AND n.tenant_id = a.tenant_id LIMIT 1
            ) n ON true
            JOIN LATERAL (
                SELECT c.id FROM contacts c WHERE c.address = i.from_address AND c.tenant_id = a.tenant_id LIMIT 1
            ) c ON true
            WHERE i.idx = ANY (v_new)
        ), ou AS (
            SELECT o.tenant_id, o.user_id, routing_personal_queue(o.tenant_id, o.user_id) AS queue_id,
                   routing_ineligible_reason(o.tenant_id, o.user_id) IS NULL AS available
            FROM (SELECT DISTINCT x.tenant_id, x.owner_user AS user_id FROM x WHERE x.owner_user IS NOT NULL) o
        ), oq AS (
            SELECT o.tenant_id, o.queue_id, routing_eligible_members(o.tenant_id, o.queue_id) AS users
            FROM (SELECT DISTINCT x.tenant_id, x.owner_queue AS queue_id FROM x WHERE x.owner_queue IS NOT NULL) o
        ), y AS (
            SELECT x.*, COALESCE(ou.queue_id, x.owner_queue) AS queue_id, NOT COALESCE(ou.available, true) AS placed_later,
                   CASE WHEN ou.available THEN ARRAY[x.owner_user] WHEN x.owner_user IS NULL THEN oq.users ELSE '{}' END AS offer_to,
                   x.at + make_interval(secs => x.offer_timeout_seconds) AS expires_at
            FROM x
            LEFT JOIN ou ON ou.tenant_id = x.tenant_id AND ou.user_id = x.owner_user
            LEFT JOIN oq ON oq.tenant_id = x.tenant_id AND oq.queue_id = x.owner_queue
        ), s AS (
            INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, owner_queue_id, queue_id,
                                  first_inbound_at, last_inbound_at, last_message_at, created_at, messages_in, first_message_in_at)
                SELECT y.tenant_id, y.contact_id, y.to_address,
                       CASE WHEN y.direct THEN 'Messaging Inbound (SMS Direct)' ELSE 'Messaging Inbound' END,
                       y.owner_user, y.owner_queue, y.queue_id, y.at, y.at, y.at, y.at, 1, y.at
                FROM y
                ORDER BY y.tenant_id, y.contact_id, y.to_address
                ON CONFLICT DO NOTHING
                RETURNING id, tenant_id, contact_id, number, type
        ), z AS (
            SELECT y.*, s.id AS session_id, s.type
            FROM y JOIN s ON s.tenant_id = y.tenant_id AND s.contact_id = y.contact_id AND s.number = y.to_address
        ), m AS (
            INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, media, segments, encoding,
                                  provider, carrier_message_id, status, created_at, status_changed_at)
                SELECT z.tenant_id, z.session_id, 'in', 'text', z.from_address, z.to_address, z.body, z.media, z.segments, z.encoding,
                       z.provider, z.carrier_message_id, 'received', z.at, z.at
                FROM z
                ORDER BY z.idx
                RETURNING id, session_id
        ), o AS (
            INSERT INTO offers (tenant_id, session_id, user_id, direct, created_at, expires_at)
                SELECT z.tenant_id, z.session_id, u, z.owner_user IS NOT NULL, z.at, z.expires_at
                FROM z, unnest(z.offer_to) AS u
                RETURNING id, session_id, user_id
        ), e AS (
            INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                SELECT z.tenant_id, o.user_id, NULL, 'session.offered', jsonb_build_object(
                        'session_id', z.session_id, 'offer_id', o.id, 'type', z.type, 'queue_id', z.queue_id, 'number', z.to_address,
                        'contact', z.from_address, 'direct', z.owner_user IS NOT NULL, 'expires_at', routing_ts(z.expires_at)), z.at
                FROM z JOIN o ON o.session_id = z.session_id
                UNION ALL
                SELECT z.tenant_id, NULL, z.queue_id, 'message.received', jsonb_build_object(
                        'session_id', z.session_id, 'message_id', m.id, 'contact', z.from_address, 'number', z.to_address,
                        'body', z.body, 'created_at', routing_ts(z.at)), z.at
                FROM z JOIN m ON m.session_id = z.session_id
                WHERE NOT z.placed_later
        ), t AS (
            INSERT INTO session_events (tenant_id, session_id, kind, data, at)
                SELECT z.tenant_id, z.session_id, 'created', jsonb_build_object('message_id', m.id, 'owner',
                        CASE WHEN z.owner_user IS NOT NULL THEN jsonb_build_object('user_id', z.owner_user)
                             ELSE jsonb_build_object('queue_id', z.owner_queue) END), z.at
                FROM z JOIN m ON m.session_id = z.session_id
                UNION ALL
                SELECT z.tenant_id, z.session_id, 'offered', jsonb_build_object('user_ids', ou.users, 'direct', z.owner_user IS NOT NULL,
                        'expires_at', routing_ts(z.expires_at)), z.at
                FROM z JOIN (SELECT o.session_id, jsonb_agg(o.user_id ORDER BY o.user_id) AS users FROM o GROUP BY o.session_id) ou
                    ON ou.session_id = z.session_id
                UNION ALL
                SELECT z.tenant_id, z.session_id, 'waiting', jsonb_build_object('queue_id', z.queue_id, 'reason', 'no_eligible_member'), z.at
                FROM z
                WHERE NOT z.placed_later AND cardinality(z.offer_to) = 0
        )
        SELECT v_results || COALESCE(array_agg(ROW(z.idx, 'routed', z.tenant_id, z.session_id, m.id, true, NULL, NULL)::routing_inbound_result)
                                     FILTER (WHERE NOT z.placed_later), '{}'),
               COALESCE(array_agg(z.idx ORDER BY z.session_id) FILTER (WHERE z.placed_later), '{}'),
               COALESCE(array_agg(z.session_id ORDER BY z.session_id) FILTER (WHERE z.placed_later), '{}'),
               COALESCE(array_agg(m.id ORDER BY z.session_id) FILTER (WHERE z.placed_later), '{}')
        INTO v_results, v_place_idx, v_place_session, v_place_message
        FROM z JOIN m ON m.session_id = z.session_id;
    END IF;

    -- The sessions of agents who could not take them: each placed along the owner's fallback
    -- chain, then the queue it ended in told of the text.
    IF cardinality(v_place_idx) > 0 THEN
        PERFORM routing_place(s.tenant_id, s.id, 'owner', 'new_session', s.created_at)
            FROM unnest(v_place_session) AS p(session_id) JOIN sessions s ON s.id = p.session_id
            ORDER BY s.id;
        WITH p AS (
            SELECT p.idx, s.tenant_id, s.id AS session_id, s.queue_id, p.message_id
            FROM unnest(v_place_idx, v_place_session, v_place_message) AS p(idx, session_id, message_id)
            JOIN sessions s ON s.id = p.session_id
        ), e AS (
            INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
                SELECT p.tenant_id, NULL, p.queue_id, 'message.received', jsonb_build_object(
                        'session_id', p.session_id, 'message_id', p.message_id, 'contact', i.from_address, 'number', i.to_address,
                        'body', i.body, 'created_at', routing_ts(i.at)), i.at
                FROM p JOIN unnest(v_items) i ON i.idx = p.idx
                ORDER BY p.idx
        )
        SELECT v_results || COALESCE(array_agg(ROW(p.idx, 'routed', p.tenant_id, p.session_id, p.message_id, true, NULL, NULL)::routing_inbound_result), '{}')
        INTO v_results
        FROM p;
    END IF;

    PERFORM set_config('directsms.messages_counted', 'off', true);

    -- Everything else, one at a time, in lock order.
    SELECT COALESCE(array_agg(i.idx ORDER BY a.tenant_id, i.to_address, i.from_address, i.idx), '{}') INTO v_slow
        FROM unnest(v_items) i LEFT JOIN carrier_accounts a ON a.id = i.account_id
        WHERE i.idx <> ALL (v_dup) AND i.idx NOT IN (SELECT r.idx FROM unnest(v_results) r);
    FOREACH v_n IN ARRAY v_slow LOOP
        v_item := v_items[v_n + 1];
        SELECT v_results || ROW(v_item.idx, r.outcome, r.tenant_id, r.session_id, r.message_id, r.new_session,
                                r.reply_ids[1], r.reply_bodies[1])::routing_inbound_result
            INTO STRICT v_results
            FROM routing_inbound(v_item.account_id, v_item.provider, v_item.carrier_message_id, v_item.account_sid,
                v_item.from_address, v_item.from_kind, v_item.to_address, v_item.body, v_item.media, v_item.segments, v_item.encoding,
                v_item.keyword, p_opt_out_text, p_opt_in_text, p_help_text, v_item.at) r;
    END LOOP;
    -- routing_inbound sets its own time on the session; a text of the batch that came later may
    -- have gone before it.
    IF cardinality(v_slow) > 0 THEN
        UPDATE sessions s SET last_message_at = GREATEST(s.last_message_at, g.at), last_inbound_at = GREATEST(s.last_inbound_at, g.at)
            FROM (SELECT r.session_id, max(i.at) AS at
                  FROM unnest(v_results) r JOIN unnest(v_items) i ON i.idx = r.idx
                  WHERE r.session_id IS NOT NULL
                  GROUP BY r.session_id) g
            WHERE s.id = g.session_id AND (s.last_inbound_at < g.at OR s.last_message_at < g.at);
    END IF;

    RETURN QUERY
        SELECT r.idx, r.outcome, r.tenant_id, r.session_id, r.message_id, r.new_session, r.reply_id, r.reply_body,
               d.level, d.enabled, d.hours, d.message, d.timezone, st.deflected_period, st.last_agent_reply_at
        FROM unnest(v_results) r
        LEFT JOIN sessions st ON r.outcome = 'routed' AND st.id = r.session_id
        LEFT JOIN LATERAL deflection_effective(r.tenant_id, st.owner_user_id, NULL, st.owner_queue_id) d ON st.id IS NOT NULL
        UNION ALL
        SELECT d.idx, 'duplicate', NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM unnest(v_dup) AS d(idx);
END
$$;

-- The per-session message counters (0007) are kept by a statement trigger whose UPDATE joins the
-- statement's transition table; PostgreSQL plans that UPDATE again on every call (0.2-0.6 ms).
-- The batch's set-based statements count their messages in the session rows they write anyway,
-- and say so with the transaction-local setting directsms.messages_counted, for which the
-- trigger's WHEN skips them. Every other writer of messages is counted as before. (A row
-- trigger was measured too: 0.1 ms a row, more than the statement trigger for a batch.)
DROP TRIGGER messages_count_sessions ON messages;
CREATE TRIGGER messages_count_sessions AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT
    WHEN (current_setting('directsms.messages_counted', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION sessions_count_messages();
