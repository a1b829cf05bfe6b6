-- authd: integer ids for what the forum lists, and the two steps that must be atomic (a member's login code,
-- a login) as functions, so each is one round trip and one transaction. Same rules as 0001: idempotent,
-- never drops or rewrites data.

-- The forum plugin casts `id`, `ip_id` and `approval_id` to int, so a UUID would reach it as 0. These numbers
-- are what the API shows; the UUIDs stay the primary keys.
ALTER TABLE trusted_ips ADD COLUMN IF NOT EXISTS num bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS trusted_ips_num_key ON trusted_ips (num);
ALTER TABLE pending_ip_approvals ADD COLUMN IF NOT EXISTS num bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS pending_ip_approvals_num_key ON pending_ip_approvals (num);

-- A member's login code: the live one, or a new one when there is none or p_regenerate (which revokes the
-- others). The code itself is never stored: authd derives it from the row's id and its secret key, and gives
-- here the id and hash it would use for a new one. Serialised per member (advisory lock), so two forum pages
-- opened at once cannot each create a code and revoke the other's.
CREATE OR REPLACE FUNCTION authd_member_code(p_member integer, p_new_id uuid, p_new_hash text, p_ttl_days integer,
                                             p_regenerate boolean)
RETURNS TABLE (id uuid, token_hash text, expires_in bigint, expires_at text, is_new boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t login_tokens%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(7305, p_member);
    IF NOT p_regenerate THEN
        SELECT * INTO t FROM login_tokens l
         WHERE l.forum_user_id = p_member AND l.is_active AND l.revoked_at IS NULL AND l.expires_at > now()
         ORDER BY l.created_at DESC LIMIT 1;
    END IF;
    IF t.id IS NULL THEN
        UPDATE login_tokens l SET is_active = false, revoked_at = now()
         WHERE l.forum_user_id = p_member AND l.is_active;
        INSERT INTO login_tokens (id, token_hash, forum_user_id, expires_at)
        VALUES (p_new_id, p_new_hash, p_member, now() + make_interval(days => p_ttl_days))
        RETURNING * INTO t;
        is_new := true;
    ELSE
        is_new := false;
    END IF;
    id := t.id;
    token_hash := t.token_hash;
    expires_in := GREATEST(0, floor(extract(epoch FROM t.expires_at - now())))::bigint;
    expires_at := to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    RETURN NEXT;
END
$$;

-- One login attempt with a code whose hash is p_hash, sent by p_sender for a player at p_ip. Decides and
-- records it in one transaction (the token row is locked, so two logins with one unused code cannot both be
-- "first"). Outcomes: unregistered_server, token_unknown (nothing recorded: no member to record it for),
-- token_revoked, token_expired, new_ip_pending_approval, first_login, trusted_ip.
CREATE OR REPLACE FUNCTION authd_login(p_hash text, p_sender inet, p_ip inet, p_guid text, p_name text,
                                       p_server_id text, p_server_name text, p_server_address text,
                                       p_require_registered boolean, p_pending_hours integer)
RETURNS TABLE (outcome text, forum_user_id integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t login_tokens%ROWTYPE;
    v_server_name text;
    v_server_address text;
BEGIN
    -- The server that history and approval requests name is the registered one at the sender's address (the
    -- one of them the body names by id or address, if several share it), never a name the body claims: the
    -- member decides on an approval by that name. The body's values serve only when no registered server
    -- sent the login (AUTH_VERIFY_FROM=any).
    SELECT s.name, host(s.ip_address) || ':' || s.port INTO v_server_name, v_server_address
      FROM servers s
     WHERE s.ip_address = p_sender AND s.is_active
     ORDER BY s.id = p_server_id DESC, host(s.ip_address) || ':' || s.port = p_server_address DESC, s.created_at
     LIMIT 1;
    IF NOT FOUND THEN
        IF p_require_registered THEN
            outcome := 'unregistered_server';
            RETURN NEXT;
            RETURN;
        END IF;
        v_server_name := NULLIF(p_server_name, '');
        v_server_address := NULLIF(p_server_address, '');
    END IF;
    SELECT * INTO t FROM login_tokens l WHERE l.token_hash = p_hash FOR UPDATE;
    IF t.id IS NULL THEN
        outcome := 'token_unknown';
        RETURN NEXT;
        RETURN;
    END IF;
    forum_user_id := t.forum_user_id;
    IF NOT t.is_active OR t.revoked_at IS NOT NULL THEN
        outcome := 'token_revoked';
    ELSIF t.expires_at <= now() THEN
        outcome := 'token_expired';
    ELSIF t.used_at IS NULL THEN
        -- First use: whoever holds the code proves it here, so the address becomes trusted.
        UPDATE login_tokens l SET used_at = now(), used_player_guid = p_guid WHERE l.id = t.id;
        INSERT INTO trusted_ips AS ti (forum_user_id, ip_address, source, label, last_used_at)
        VALUES (t.forum_user_id, p_ip, 'token_login', 'First login', now())
        ON CONFLICT ON CONSTRAINT trusted_ips_member_ip_key DO UPDATE
           SET is_active = true, revoked_at = NULL, last_used_at = now();
        outcome := 'first_login';
    ELSIF EXISTS (SELECT 1 FROM trusted_ips ti
                   WHERE ti.forum_user_id = t.forum_user_id AND ti.ip_address = p_ip AND ti.is_active) THEN
        UPDATE trusted_ips ti SET last_used_at = now()
         WHERE ti.forum_user_id = t.forum_user_id AND ti.ip_address = p_ip;
        outcome := 'trusted_ip';
    ELSE
        -- An open request stays as it is (and keeps its notified_at); a decided or expired one opens again.
        INSERT INTO pending_ip_approvals AS p (forum_user_id, ip_address, player_guid, player_name, server_name,
                                               server_address, expires_at)
        VALUES (t.forum_user_id, p_ip, p_guid, p_name, v_server_name, v_server_address,
                now() + make_interval(hours => p_pending_hours))
        ON CONFLICT ON CONSTRAINT pending_ip_approvals_member_ip_key DO UPDATE
           SET status = 'pending', player_guid = EXCLUDED.player_guid, player_name = EXCLUDED.player_name,
               server_name = EXCLUDED.server_name, server_address = EXCLUDED.server_address, created_at = now(),
               expires_at = EXCLUDED.expires_at, notified_at = NULL, decided_at = NULL
         WHERE p.status <> 'pending' OR p.expires_at <= now();
        outcome := 'new_ip_pending_approval';
    END IF;
    INSERT INTO login_token_history (forum_user_id, login_token_id, server_id, server_name, server_address,
                                     player_ip, player_guid, player_name, success, failure_reason)
    VALUES (t.forum_user_id, t.id, p_server_id, v_server_name, v_server_address, host(p_ip), p_guid, p_name,
            outcome IN ('first_login', 'trusted_ip'),
            CASE WHEN outcome IN ('first_login', 'trusted_ip') THEN NULL ELSE outcome END);
    RETURN NEXT;
END
$$;
