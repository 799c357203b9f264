-- Carrier accounts, the number inventory and its assignments.
--
-- The assignment rules live here, so that no code path and no two concurrent requests can break
-- them:
--   * a number has at most one SMS owner: one user (its direct number) or one SMS queue;
--   * a user (an active one) owns only direct, verified numbers, at most
--     tenants.max_direct_numbers_per_agent;
--   * an SMS queue holds only verified numbers, direct or not (a non-direct number on an SMS queue
--     is the "Messaging Inbound" case);
--   * a number may also sit on one IVR queue, independently of its SMS owner;
--   * only leaf, shared queues take numbers (a personal queue gets its agent's numbers through the
--     agent), and a queue holding numbers cannot become a parent;
--   * outbound senders (users or SMS queues) are only ever attached to non-direct numbers.
-- Rules about a single row are CHECK constraints and composite foreign keys. Rules about changes
-- (an owner is never silently replaced) or about other rows (leaf queues, the per-agent limit) are
-- triggers that lock the row they depend on, and raise check_violation with a constraint name, so
-- the store maps every violation, whichever way it arises, to its API code by name.

CREATE TABLE carrier_accounts (
    id                              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider                        text NOT NULL,
    label                           text NOT NULL DEFAULT '',
    -- Twilio's AccountSid (required; webhooks find the account by it). Telnyx webhooks carry no
    -- account id, so for Telnyx it is an optional reference and the account is found through the
    -- number texted.
    account_sid                     text,
    -- Secrets: write-only in the API, never logged.
    auth_token                      text,
    api_key                         text,
    public_key                      text,
    -- The carrier's REST base URL when it is not the public one (the fake carrier in dev and tests).
    base_url                        text,
    sends_own_opt_out_confirmation  boolean NOT NULL,
    created_at                      timestamptz NOT NULL,
    updated_at                      timestamptz NOT NULL,
    CONSTRAINT carrier_accounts_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT carrier_accounts_account_sid_key UNIQUE (provider, account_sid),
    CONSTRAINT carrier_accounts_provider_check CHECK (provider IN ('twilio', 'telnyx')),
    CONSTRAINT carrier_accounts_label_check CHECK (length(label) <= 200),
    CONSTRAINT carrier_accounts_twilio_check CHECK (provider <> 'twilio' OR (
        account_sid ~ '^AC[0-9a-f]{32}$' AND length(auth_token) BETWEEN 1 AND 200 AND api_key IS NULL AND public_key IS NULL)),
    CONSTRAINT carrier_accounts_telnyx_check CHECK (provider <> 'telnyx' OR (
        length(api_key) BETWEEN 1 AND 500 AND length(public_key) BETWEEN 1 AND 200 AND auth_token IS NULL
        AND (account_sid IS NULL OR length(account_sid) BETWEEN 1 AND 200))),
    CONSTRAINT carrier_accounts_base_url_check CHECK (base_url IS NULL OR base_url ~ '^https?://[^/?#]+$')
);

CREATE TABLE numbers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    e164                text NOT NULL,
    -- The region phonenumbers reports for the number, which can differ from the tenant's.
    region              text NOT NULL,
    label               text NOT NULL DEFAULT '',
    direct              boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'unverified',
    carrier_account_id  uuid NOT NULL,
    -- When and through which carrier lookup the number was last found in its account.
    verified_at         timestamptz,
    verified_via        text,
    -- When the carrier was last asked, whatever it answered.
    checked_at          timestamptz,
    sms_user_id         uuid,
    sms_queue_id        uuid,
    -- Constant kinds: the composite keys to queues (tenant_id, id, kind) only match a queue of
    -- that kind.
    sms_queue_kind      text GENERATED ALWAYS AS ('sms') STORED,
    ivr_queue_id        uuid,
    ivr_queue_kind      text GENERATED ALWAYS AS ('ivr') STORED,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- One number, one tenant: the inbound webhook finds the tenant by the number texted.
    CONSTRAINT numbers_e164_key UNIQUE (e164),
    CONSTRAINT numbers_tenant_id_key UNIQUE (tenant_id, id),
    -- The target of number_outbound's foreign key, which only non-direct numbers satisfy.
    CONSTRAINT numbers_tenant_id_direct_key UNIQUE (tenant_id, id, direct),
    CONSTRAINT numbers_e164_check CHECK (e164 ~ '^\+[1-9][0-9]{4,14}$'),
    CONSTRAINT numbers_region_check CHECK (region ~ '^([A-Z]{2}|001)$'),
    CONSTRAINT numbers_label_check CHECK (length(label) <= 200),
    CONSTRAINT numbers_status_check CHECK (status IN ('unverified', 'verified')),
    CONSTRAINT numbers_verified_check CHECK ((status = 'verified') = (verified_at IS NOT NULL AND verified_via IS NOT NULL)),
    CONSTRAINT numbers_one_sms_owner_check CHECK (sms_user_id IS NULL OR sms_queue_id IS NULL),
    CONSTRAINT numbers_sms_queue_verified_check CHECK (sms_queue_id IS NULL OR status = 'verified'),
    CONSTRAINT numbers_sms_user_direct_check CHECK (sms_user_id IS NULL OR direct),
    CONSTRAINT numbers_sms_user_verified_check CHECK (sms_user_id IS NULL OR status = 'verified'),
    CONSTRAINT numbers_carrier_account_fkey FOREIGN KEY (tenant_id, carrier_account_id) REFERENCES carrier_accounts (tenant_id, id),
    CONSTRAINT numbers_sms_user_fkey FOREIGN KEY (tenant_id, sms_user_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (sms_user_id),
    -- A queue holding numbers cannot be deleted (the directory answers 409 queue_in_use): its
    -- numbers would silently stop routing.
    CONSTRAINT numbers_sms_queue_fkey FOREIGN KEY (tenant_id, sms_queue_id, sms_queue_kind) REFERENCES queues (tenant_id, id, kind),
    CONSTRAINT numbers_ivr_queue_fkey FOREIGN KEY (tenant_id, ivr_queue_id, ivr_queue_kind) REFERENCES queues (tenant_id, id, kind)
);
CREATE INDEX numbers_tenant_e164_idx ON numbers (tenant_id, e164);
CREATE INDEX numbers_carrier_account_idx ON numbers (carrier_account_id);
CREATE INDEX numbers_sms_user_idx ON numbers (sms_user_id) WHERE sms_user_id IS NOT NULL;
CREATE INDEX numbers_sms_queue_idx ON numbers (sms_queue_id) WHERE sms_queue_id IS NOT NULL;
CREATE INDEX numbers_ivr_queue_idx ON numbers (ivr_queue_id) WHERE ivr_queue_id IS NOT NULL;

-- Who may send from a non-direct number: users, or SMS queues (whose members send as the queue).
CREATE TABLE number_outbound (
    tenant_id      uuid NOT NULL,
    number_id      uuid NOT NULL,
    number_direct  boolean GENERATED ALWAYS AS (false) STORED,
    user_id        uuid,
    queue_id       uuid,
    queue_kind     text GENERATED ALWAYS AS ('sms') STORED,
    created_at     timestamptz NOT NULL,
    CONSTRAINT number_outbound_one_sender_check CHECK ((user_id IS NULL) <> (queue_id IS NULL)),
    -- A direct number has no outbound senders: the key only matches a number whose direct is false,
    -- and a number cannot become direct while senders reference it.
    CONSTRAINT number_outbound_number_fkey FOREIGN KEY (tenant_id, number_id, number_direct)
        REFERENCES numbers (tenant_id, id, direct) ON DELETE CASCADE,
    CONSTRAINT number_outbound_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT number_outbound_queue_fkey FOREIGN KEY (tenant_id, queue_id, queue_kind) REFERENCES queues (tenant_id, id, kind)
);
CREATE UNIQUE INDEX number_outbound_user_key ON number_outbound (number_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX number_outbound_queue_key ON number_outbound (number_id, queue_id) WHERE queue_id IS NOT NULL;
CREATE INDEX number_outbound_user_idx ON number_outbound (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX number_outbound_queue_idx ON number_outbound (queue_id) WHERE queue_id IS NOT NULL;

-- numbers_fail raises a rule violation the way a CHECK constraint would, naming the rule, so
-- callers classify it like any other constraint violation.
CREATE FUNCTION numbers_fail(rule text, message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = rule, MESSAGE = message;
END
$$;

-- numbers_require_leaf_queue checks a queue may take a number: a shared (not personal) queue with
-- no children. It holds a share lock on the queue until the transaction ends; making a queue a
-- parent takes an exclusive one (queues_parent_check), so the two cannot interleave.
CREATE FUNCTION numbers_require_leaf_queue(q uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    personal uuid;
BEGIN
    SELECT personal_user_id INTO personal FROM queues WHERE id = q FOR SHARE;
    IF personal IS NOT NULL THEN
        PERFORM numbers_fail('numbers_personal_queue_check', 'a personal queue gets numbers through its agent');
    END IF;
    IF EXISTS (SELECT 1 FROM queues WHERE parent_id = q) THEN
        PERFORM numbers_fail('numbers_leaf_queue_check', 'only leaf queues take numbers');
    END IF;
END
$$;

-- numbers_check_assignment guards every new SMS owner and IVR queue of a number. The checks run
-- in the order the API reports them: what the number is (direct, verified), then who holds it,
-- then the target's own limits (the per-agent limit is numbers_check_agents, once per
-- statement).
CREATE FUNCTION numbers_check_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_user   uuid;
    old_queue  uuid;
    old_ivr    uuid;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_user := OLD.sms_user_id;
        old_queue := OLD.sms_queue_id;
        old_ivr := OLD.ivr_queue_id;
    END IF;

    IF NEW.sms_user_id IS NOT NULL AND NEW.sms_user_id IS DISTINCT FROM old_user THEN
        IF NOT NEW.direct THEN
            PERFORM numbers_fail('numbers_sms_user_direct_check', 'only direct numbers can be assigned to an agent');
        END IF;
        IF NEW.status <> 'verified' THEN
            PERFORM numbers_fail('numbers_sms_user_verified_check', 'only verified numbers can be assigned to an agent');
        END IF;
        IF old_user IS NOT NULL THEN
            PERFORM numbers_fail('numbers_sms_owner_user_check', 'the number is assigned to another agent');
        END IF;
        IF NEW.sms_queue_id IS NOT NULL THEN
            PERFORM numbers_fail('numbers_sms_owner_queue_check', 'the number is assigned to an SMS queue');
        END IF;
    END IF;

    IF NEW.sms_queue_id IS NOT NULL AND NEW.sms_queue_id IS DISTINCT FROM old_queue THEN
        IF NEW.status <> 'verified' THEN
            PERFORM numbers_fail('numbers_sms_queue_verified_check', 'only verified numbers can be assigned to an SMS queue');
        END IF;
        IF NEW.sms_user_id IS NOT NULL THEN
            PERFORM numbers_fail('numbers_sms_owner_user_check', 'the number is assigned to an agent');
        END IF;
        IF old_queue IS NOT NULL THEN
            PERFORM numbers_fail('numbers_sms_owner_queue_check', 'the number is assigned to another SMS queue');
        END IF;
        PERFORM numbers_require_leaf_queue(NEW.sms_queue_id);
    END IF;

    IF NEW.ivr_queue_id IS NOT NULL AND NEW.ivr_queue_id IS DISTINCT FROM old_ivr THEN
        IF old_ivr IS NOT NULL THEN
            PERFORM numbers_fail('numbers_ivr_owner_check', 'the number is assigned to another IVR queue');
        END IF;
        PERFORM numbers_require_leaf_queue(NEW.ivr_queue_id);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER numbers_check_assignment BEFORE INSERT OR UPDATE OF sms_user_id, sms_queue_id, ivr_queue_id ON numbers
    FOR EACH ROW WHEN (NEW.sms_user_id IS NOT NULL OR NEW.sms_queue_id IS NOT NULL OR NEW.ivr_queue_id IS NOT NULL)
    EXECUTE FUNCTION numbers_check_assignment();

-- numbers_check_agents checks the users a statement gave numbers to, once per statement however
-- many rows it wrote (bulk assignment writes thousands): each must be active and within its
-- tenant's max_direct_numbers_per_agent. The users' rows are locked first, in id order, so
-- concurrent assignments to one user run one after the other and each counts after the other
-- has committed: the limit cannot be overrun.
CREATE FUNCTION numbers_check_agents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gained  uuid[];
    over    record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT n.sms_user_id) INTO gained
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.sms_user_id IS NOT NULL AND n.sms_user_id IS DISTINCT FROM o.sms_user_id;
    ELSE
        SELECT array_agg(DISTINCT n.sms_user_id) INTO gained FROM new_rows n WHERE n.sms_user_id IS NOT NULL;
    END IF;
    IF gained IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM users WHERE id = ANY(gained) ORDER BY id FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM users WHERE id = ANY(gained) AND NOT active) THEN
        PERFORM numbers_fail('numbers_sms_user_active_check', 'the user is deactivated');
    END IF;
    SELECT c.owned, t.max_direct_numbers_per_agent AS max_owned INTO over
        FROM (SELECT sms_user_id, count(*) AS owned FROM numbers WHERE sms_user_id = ANY(gained) GROUP BY sms_user_id) c
        JOIN users u ON u.id = c.sms_user_id JOIN tenants t ON t.id = u.tenant_id
        WHERE c.owned > t.max_direct_numbers_per_agent
        LIMIT 1;
    IF FOUND THEN
        PERFORM numbers_fail('numbers_agent_limit_check', format('an agent may own at most %s direct numbers', over.max_owned));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER numbers_check_agents_update AFTER UPDATE ON numbers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION numbers_check_agents();
CREATE TRIGGER numbers_check_agents_insert AFTER INSERT ON numbers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION numbers_check_agents();

CREATE FUNCTION number_outbound_check_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.queue_id IS NOT NULL THEN
        PERFORM numbers_require_leaf_queue(NEW.queue_id);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER number_outbound_check_queue BEFORE INSERT OR UPDATE OF queue_id ON number_outbound
    FOR EACH ROW EXECUTE FUNCTION number_outbound_check_queue();

-- queues_check_parent keeps the other half of the leaf rule: a queue that holds numbers cannot be
-- given children. The exclusive lock on the parent waits for (and then sees) any assignment in
-- flight to it. The triggers' WHEN clauses keep it off the common path (root and personal queues).
CREATE FUNCTION queues_check_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM queues WHERE id = NEW.parent_id FOR UPDATE;
    IF EXISTS (SELECT 1 FROM numbers WHERE sms_queue_id = NEW.parent_id OR ivr_queue_id = NEW.parent_id)
        OR EXISTS (SELECT 1 FROM number_outbound WHERE queue_id = NEW.parent_id) THEN
        PERFORM numbers_fail('queues_parent_numbers_check', 'a queue that holds numbers cannot have child queues');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER queues_check_parent_insert BEFORE INSERT ON queues
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL) EXECUTE FUNCTION queues_check_parent();
CREATE TRIGGER queues_check_parent_update BEFORE UPDATE OF parent_id ON queues
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NEW.parent_id IS DISTINCT FROM OLD.parent_id)
    EXECUTE FUNCTION queues_check_parent();
