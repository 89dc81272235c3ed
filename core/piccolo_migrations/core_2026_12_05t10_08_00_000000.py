"""Audit rows form a hash chain: each row's `hash` is sha256 over the previous row's hash and its own canonical
content, in the order given by `seq` (1, 2, 3, ... without gaps). `fcom audit verify` recomputes it.

Rows are sealed (given seq and hash) when their transaction commits, by a deferred trigger: sealing in the
insert itself would hold the chain's lock from the first audit row to the commit, and a transaction waiting
meanwhile for a row another one holds would deadlock with it. The seal takes the same advisory lock as the
data-version bumps (7130005), so a commit takes one lock, whichever it queued first. Under READ COMMITTED the
seal then sees the last committed seal; a transaction reading an older snapshot gets a duplicate seq and
fails instead of forking the chain.

The sealing functions run as their owner (the role that migrates), so the application's role needs no right
to update the table; the append-only trigger lets an unsealed row be sealed and nothing else.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-05T10:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit rows carry a hash chain, sealed at commit"

SQL = """
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS seq bigint, ADD COLUMN IF NOT EXISTS hash text;
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_seq ON audit_log (seq);

-- What the hash covers, as text; `fcom audit verify` hashes the same text.
CREATE OR REPLACE FUNCTION audit_log_canonical(r audit_log) RETURNS text AS $$
    SELECT jsonb_build_array(
        r.seq, r.id, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.actor, r.actor_name,
        r.action, r.entity_type, r.entity_id, r.before, r.after, r.reason)::text;
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION audit_log_seal_pending() RETURNS void AS $$
DECLARE
    last_seq bigint;
    last_hash text;
    r audit_log;
BEGIN
    PERFORM pg_advisory_xact_lock(7130005);
    SELECT seq, hash INTO last_seq, last_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    FOR r IN SELECT * FROM audit_log WHERE seq IS NULL ORDER BY id LOOP
        last_seq := coalesce(last_seq, 0) + 1;
        r.seq := last_seq;
        last_hash := encode(sha256(convert_to(coalesce(last_hash, '') || audit_log_canonical(r), 'UTF8')), 'hex');
        UPDATE audit_log SET seq = last_seq, hash = last_hash WHERE id = r.id;
    END LOOP;
    -- A transaction that goes on writing after an early seal (SET CONSTRAINTS ... IMMEDIATE) queues another.
    PERFORM set_config('core_data_version.queued_audit_seal', '', true);
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION audit_log_seal_pending() FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit_log_seal() RETURNS trigger AS $$
BEGIN
    PERFORM audit_log_seal_pending();
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp;

-- Whatever an insert says, a row arrives unsealed: only the seal numbers and hashes rows.
CREATE OR REPLACE FUNCTION audit_log_arrives_unsealed() RETURNS trigger AS $$
BEGIN
    NEW.seq := NULL;
    NEW.hash := NULL;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
            AND to_jsonb(NEW) - 'seq' - 'hash' = to_jsonb(OLD) - 'seq' - 'hash' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log rows cannot be changed or deleted' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_log_unsealed ON audit_log;
CREATE TRIGGER audit_log_unsealed BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_arrives_unsealed();
-- One seal per transaction, however many rows it writes (core_data_change_first is true once per name).
DROP TRIGGER IF EXISTS audit_log_seal ON audit_log;
CREATE CONSTRAINT TRIGGER audit_log_seal AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (core_data_change_first(ARRAY['audit_seal'])) EXECUTE FUNCTION audit_log_seal();

SELECT audit_log_seal_pending();
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
