"""The database checks every credit code as the service does (issue 16): both check characters of GB 32100
(the 18th, modulo 31) and of the organisation code inside it (GB 11714, the 17th, modulo 11).

Rows written before the check are not refused here: when some fail it, the constraint is left NOT VALID (new
and changed rows are still checked) and the failing operators are named in a warning, to be corrected.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-05T10:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "credit code check in the database"

SQL = r"""
CREATE OR REPLACE FUNCTION provider_credit_code_valid(code text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKLMNPQRTUWXY';
    weights constant int[] := ARRAY[1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    org_weights constant int[] := ARRAY[3, 7, 9, 10, 5, 8, 4, 2];
    total int := 0;
    position int;
    remainder int;
BEGIN
    IF length(code) <> 18 OR substr(code, 3, 6) !~ '^[0-9]{6}$' THEN
        RETURN false;
    END IF;
    FOR i IN 1..18 LOOP
        position := strpos(alphabet, substr(code, i, 1));
        IF position = 0 THEN
            RETURN false;
        END IF;
        IF i <= 17 THEN
            total := total + (position - 1) * weights[i];
        END IF;
    END LOOP;
    IF substr(alphabet, (31 - total % 31) % 31 + 1, 1) <> substr(code, 18, 1) THEN
        RETURN false;
    END IF;
    -- GB 11714 counts letters A=10 ... Z=35, which is their place in the whole Latin alphabet.
    total := 0;
    FOR i IN 1..8 LOOP
        total := total + org_weights[i] * CASE WHEN substr(code, 8 + i, 1) ~ '[0-9]'
                                               THEN ascii(substr(code, 8 + i, 1)) - ascii('0')
                                               ELSE ascii(substr(code, 8 + i, 1)) - ascii('A') + 10 END;
    END LOOP;
    remainder := 11 - total % 11;
    RETURN substr(code, 17, 1) = CASE remainder WHEN 10 THEN 'X' WHEN 11 THEN '0' ELSE remainder::text END;
END
$$;

ALTER TABLE provider_operator DROP CONSTRAINT IF EXISTS provider_operator_credit_code_valid;
ALTER TABLE provider_operator ADD CONSTRAINT provider_operator_credit_code_valid
    CHECK (provider_credit_code_valid(credit_code)) NOT VALID;

DO $$
DECLARE
    invalid text;
BEGIN
    SELECT string_agg(id || ' ' || credit_code, ', ' ORDER BY id) INTO invalid
    FROM provider_operator WHERE NOT provider_credit_code_valid(credit_code);
    IF invalid IS NULL THEN
        ALTER TABLE provider_operator VALIDATE CONSTRAINT provider_operator_credit_code_valid;
    ELSE
        RAISE WARNING 'operators with an invalid credit code, to be corrected: %', invalid;
    END IF;
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="providers", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
