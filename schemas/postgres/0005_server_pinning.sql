-- Registration hardening (issue 17, item 2): pinned servers, and which servers have sent events. Same rules as
-- 0001: idempotent, never drops or rewrites data.

-- A pinned server keeps the token its config holds: nobody can register it again (not even from its own address
-- and port), so a neighbour on shared hosting cannot take its identity over or lock it out. Operators pin with
-- `ingestd servers pin`; `ingestd servers create` makes pinned servers.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS pinned boolean NOT NULL DEFAULT false;

-- When the server's first batch of events was accepted (written once, by ingestd). authd counts an address as a
-- "registered server" (AUTH_VERIFY_FROM=registered) only when an active server there has sent events: registering
-- alone, which anyone can do in open mode, is not enough.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS first_batch_at timestamptz;
CREATE INDEX IF NOT EXISTS servers_sent_events_idx ON servers (ip_address) WHERE is_active AND first_batch_at IS NOT NULL;

-- Servers made by `ingestd servers create` before this migration are the operator's: pin them, as create now does.
-- Only those have no registered_from_ip (a registration always sets it). Runs once: migrate.sh records this file.
UPDATE servers SET pinned = true WHERE registered_from_ip IS NULL AND NOT pinned;
