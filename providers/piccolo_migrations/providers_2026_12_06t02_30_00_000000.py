"""Batch numbers per year, objections from the public, and published batches frozen by the database.

A batch gets its number (2026年第2批) when it is published, from a per-year counter row that the publishing
transaction increments: the row stays locked until that transaction ends, so numbers are unique and, among
published batches, without gaps. Batches published before this migration are numbered in publication order.

Anyone may object during a notice without an account: such an objection has no `filed_by` but the objector's
name and phone (and an email for the answer).

Once published, a batch and its entries cannot change: no statement after publication updates either, and the
triggers make sure nothing does.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "batch numbers, public objections, published batches are frozen"

SQL = """
CREATE TABLE IF NOT EXISTS provider_batch_counter (
    year integer PRIMARY KEY,
    last_seq integer NOT NULL CHECK (last_seq > 0)
);

ALTER TABLE provider_batch ADD COLUMN IF NOT EXISTS number_year integer,
                           ADD COLUMN IF NOT EXISTS number_seq integer;

UPDATE provider_batch b SET number_year = n.year, number_seq = n.seq
FROM (
    SELECT id, extract(year FROM published_on)::int AS year,
           row_number() OVER (PARTITION BY extract(year FROM published_on) ORDER BY published_on, id)::int AS seq
    FROM provider_batch WHERE state = 'published'
) n
WHERE b.id = n.id AND b.number_seq IS NULL;

INSERT INTO provider_batch_counter (year, last_seq)
SELECT number_year, max(number_seq) FROM provider_batch WHERE number_seq IS NOT NULL GROUP BY number_year
ON CONFLICT (year) DO NOTHING;

DO $$ BEGIN
    ALTER TABLE provider_batch ADD CONSTRAINT provider_batch_number_unique UNIQUE (number_year, number_seq);
EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL;
END $$;
DO $$ BEGIN
    ALTER TABLE provider_batch ADD CONSTRAINT provider_batch_numbered_when_published
        CHECK ((state = 'published') = (number_seq IS NOT NULL AND number_year IS NOT NULL));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

ALTER TABLE provider_objection ALTER COLUMN filed_by DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS objector_name varchar(50),
    ADD COLUMN IF NOT EXISTS objector_phone varchar(11),
    ADD COLUMN IF NOT EXISTS objector_email varchar(255);
DO $$ BEGIN
    ALTER TABLE provider_objection ADD CONSTRAINT provider_objection_has_objector
        CHECK (filed_by IS NOT NULL OR (objector_name IS NOT NULL AND objector_phone IS NOT NULL));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
-- The per-phone limit counts a phone's recent objections.
CREATE INDEX IF NOT EXISTS provider_objection_phone_recent ON provider_objection (objector_phone, created_at)
    WHERE objector_phone IS NOT NULL;

CREATE OR REPLACE FUNCTION provider_batch_published_is_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'published' THEN
        RAISE EXCEPTION 'batch % is published and cannot be changed', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION provider_batch_entry_published_is_frozen() RETURNS trigger AS $$
DECLARE
    batches integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        batches := ARRAY[NEW.batch];
    ELSIF TG_OP = 'DELETE' THEN
        batches := ARRAY[OLD.batch];
    ELSE
        batches := ARRAY[OLD.batch, NEW.batch];
    END IF;
    IF EXISTS (SELECT 1 FROM provider_batch b WHERE b.id = ANY (batches) AND b.state = 'published') THEN
        RAISE EXCEPTION 'entries of a published batch cannot be changed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS provider_batch_frozen ON provider_batch;
CREATE TRIGGER provider_batch_frozen BEFORE UPDATE OR DELETE ON provider_batch
    FOR EACH ROW EXECUTE FUNCTION provider_batch_published_is_frozen();
DROP TRIGGER IF EXISTS provider_batch_entry_frozen ON provider_batch_entry;
CREATE TRIGGER provider_batch_entry_frozen BEFORE INSERT OR UPDATE OR DELETE ON provider_batch_entry
    FOR EACH ROW EXECUTE FUNCTION provider_batch_entry_published_is_frozen();
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
