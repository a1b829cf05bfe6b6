-- Login codes are stored as a MAC keyed with authd's secret (HMAC-SHA256 under AUTHD_TOKEN_KEY, see
-- authd/login_code.h) instead of a bare SHA-256: a code has 60 bits, few enough that a copy of this table could
-- be searched exhaustively for every live code. Same rules as 0001: idempotent, never drops or rewrites data.
--
-- PostgreSQL cannot compute the MAC (it has no key, and must not be given it), so existing rows are marked
-- 'sha256' here and authd rewrites them itself when it starts (authd/code_upgrade.c: it derives each row's code
-- from the row id, as the forum is shown it, and stores that code's MAC). Outstanding codes keep working: a
-- member need not fetch a new one. Stop authd before applying this and start the new authd after it (scripts/
-- stack.sh does); until the rewrite has run, which takes a moment after start, a code stored before answers
-- token_unknown.

-- Which function made token_hash: rows from before this migration hold sha256, new ones hmac-sha256.
ALTER TABLE login_tokens ADD COLUMN IF NOT EXISTS hash_scheme text NOT NULL DEFAULT 'sha256'
    CHECK (hash_scheme IN ('sha256', 'hmac-sha256'));
ALTER TABLE login_tokens ALTER COLUMN hash_scheme SET DEFAULT 'hmac-sha256';
-- authd's rewrite finds what is left to do.
CREATE INDEX IF NOT EXISTS login_tokens_legacy_idx ON login_tokens (id) WHERE hash_scheme = 'sha256';

-- One login attempt with a code whose MAC is p_hash, sent by p_sender for a player at p_ip. Decides and
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
    -- Only MACs: a row still holding a bare SHA-256 waits for authd's rewrite (code_upgrade.c), and a MAC never
    -- equals a bare hash of the same code, so the scheme only makes the rule explicit.
    SELECT * INTO t FROM login_tokens l WHERE l.token_hash = p_hash AND l.hash_scheme = 'hmac-sha256' FOR UPDATE;
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
