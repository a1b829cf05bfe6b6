-- The operator's toolbox (mohstats-admin, docs/operations.md).
--
-- Every action of mohstats-admin, with who did it (--by, else the OS user) and what. rebuild also reads it: the
-- raw_events months dropped by retention ('retention-drop', detail = YYYYMM) cannot be rebuilt from, and a view a
-- killed rebuild left detached ('rebuild-detach' without its 'rebuild-attach') is attached again by the next run.
CREATE TABLE IF NOT EXISTS admin_actions
(
    at DateTime,
    who String,
    action String,
    detail String
)
ENGINE = MergeTree
ORDER BY (at, action)
SETTINGS index_granularity = 8192;

-- rebuild's taps (admin/rebuild.c): the batch_id of every insert into raw_events while a rebuild round runs,
-- recorded by short-lived views; a round's rows are deleted when it ends.
CREATE TABLE IF NOT EXISTS admin_rebuild_tap
(
    run String,
    tap String,
    batch_id UUID
)
ENGINE = MergeTree
ORDER BY (run, tap, batch_id)
SETTINGS index_granularity = 8192;
