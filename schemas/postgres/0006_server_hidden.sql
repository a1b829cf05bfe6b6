-- Servers hidden from the public lists (mohstats-admin hide --server, docs/operations.md): queryd's /servers, its
-- rankings and totals leave them out (listed_servers_pg_sql); their pages, matches and events stay. Same rules as
-- 0001: idempotent, never drops or rewrites data.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS hidden boolean NOT NULL DEFAULT false;
