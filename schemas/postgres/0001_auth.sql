-- authd's and ingestd's tables: registered game servers, game-login tokens and their audit log, trusted IPs,
-- pending IP approvals and the forum-member mappings. Applied by scripts/migrate.sh in one transaction.
--
-- Rules every migration here follows: idempotent (IF NOT EXISTS everywhere, so a second run or a re-run after a
-- partial failure is harmless), never drops or rewrites data, needs no extension (gen_random_uuid() is core since
-- PostgreSQL 13).
--
-- Differences from the old Go service's schema, on purpose (docs/security.md, authd): secrets are stored only as
-- SHA-256 hex (token_hash, checked to look like one, so a plaintext token cannot slip in); login tokens expire;
-- login_tokens has the revoked_at column the old code wrote but never had; the tables the old code used without
-- creating them (trusted_ips, pending_ip_approvals, login_token_history) exist.

-- Game servers allowed to send events. The token itself is shown once at registration and never stored.
CREATE TABLE IF NOT EXISTS servers (
    -- A lowercase UUID in text form: it is what the tracker's YAML config holds, and UUID text survives YAML
    -- parsing unchanged (unlike, say, a number with leading zeros).
    id text PRIMARY KEY,
    name text NOT NULL,
    ip_address inet NOT NULL,
    port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    token_hash char(64) NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- The first characters of the token, so an operator can tell tokens apart in a list without the secret.
    token_prefix text NOT NULL DEFAULT '',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz,
    registered_from_ip inet,
    CONSTRAINT servers_token_hash_key UNIQUE (token_hash),
    CONSTRAINT servers_address_key UNIQUE (ip_address, port)
);
CREATE INDEX IF NOT EXISTS servers_last_seen_idx ON servers (last_seen_at DESC) WHERE is_active;

-- One-time codes a forum member types in game (`/login CODE`) to link the player GUID to the member.
CREATE TABLE IF NOT EXISTS login_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash char(64) NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    forum_user_id integer NOT NULL CHECK (forum_user_id > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    used_player_guid text,
    revoked_at timestamptz,
    is_active boolean NOT NULL DEFAULT true,
    CONSTRAINT login_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT login_tokens_expiry_check CHECK (expires_at > created_at)
);
-- "Does this member already have a live token?" and the revoke-all on regenerate.
CREATE INDEX IF NOT EXISTS login_tokens_member_live_idx ON login_tokens (forum_user_id)
    WHERE is_active AND used_at IS NULL AND revoked_at IS NULL;
-- Purging expired tokens.
CREATE INDEX IF NOT EXISTS login_tokens_expires_idx ON login_tokens (expires_at);

-- Audit log of every verification attempt, successful or not. Append-only; rows outlive the tokens they name,
-- so there is no foreign key. attempt_at is the row's creation time. Addresses are text, not inet: an attempt
-- with a malformed address must still be recorded.
CREATE TABLE IF NOT EXISTS login_token_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempt_at timestamptz NOT NULL DEFAULT now(),
    -- NULL when the token was unknown (the old system logged nothing in that case).
    forum_user_id integer,
    login_token_id uuid,
    server_id text,
    server_name text,
    server_address text,
    player_ip text,
    player_guid text,
    player_name text,
    success boolean NOT NULL,
    -- A short machine-readable reason (token_unknown, token_expired, token_revoked, new_ip_pending_approval, ...).
    failure_reason text,
    CONSTRAINT login_token_history_reason_check CHECK (success OR failure_reason IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS login_token_history_member_idx ON login_token_history (forum_user_id, attempt_at DESC);
CREATE INDEX IF NOT EXISTS login_token_history_guid_idx ON login_token_history (player_guid, attempt_at DESC);
CREATE INDEX IF NOT EXISTS login_token_history_attempt_idx ON login_token_history (attempt_at);

-- IP addresses from which a member's already-used token may reconnect without a new approval.
-- source: website (the forum page that made a token), token_login (first successful verify), manual_approval.
CREATE TABLE IF NOT EXISTS trusted_ips (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    forum_user_id integer NOT NULL CHECK (forum_user_id > 0),
    ip_address inet NOT NULL,
    source text NOT NULL,
    label text NOT NULL DEFAULT '',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    -- Deleting a trusted IP is soft: is_active = false, revoked_at = now().
    revoked_at timestamptz,
    CONSTRAINT trusted_ips_member_ip_key UNIQUE (forum_user_id, ip_address)
);

-- A reconnect from an IP that is not trusted waits here for the member to approve or deny it on the forum.
CREATE TABLE IF NOT EXISTS pending_ip_approvals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    forum_user_id integer NOT NULL CHECK (forum_user_id > 0),
    ip_address inet NOT NULL,
    player_guid text,
    player_name text,
    server_name text,
    server_address text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set once the member was told (e-mail, PM), so they are not told again for the same request.
    notified_at timestamptz,
    decided_at timestamptz,
    CONSTRAINT pending_ip_approvals_member_ip_key UNIQUE (forum_user_id, ip_address)
);
CREATE INDEX IF NOT EXISTS pending_ip_approvals_open_idx ON pending_ip_approvals (forum_user_id, expires_at)
    WHERE status = 'pending';

-- Forum member -> the player GUID they play as (set by the last successful verify).
CREATE TABLE IF NOT EXISTS smf_user_mappings (
    smf_member_id integer PRIMARY KEY CHECK (smf_member_id > 0),
    smf_username text NOT NULL DEFAULT '',
    primary_guid text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS smf_user_mappings_guid_idx ON smf_user_mappings (primary_guid);
