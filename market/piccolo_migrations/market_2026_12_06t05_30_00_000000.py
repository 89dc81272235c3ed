"""The residents' vote on a need, recorded on the need itself: which poll, who won, whether the quorum was
met, and the street's decision to follow the winner or not (with its written reason). Allocation and
contract signing read it here, so market never has to look into the residents' tables."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.migrate import run_sql_script

ID = "2026-12-06T05:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "residents' vote result and decision on a need"

SQL = """
ALTER TABLE market_need
    ADD COLUMN vote_poll_id integer,
    ADD COLUMN vote_winner_operator_id integer REFERENCES provider_operator (id),
    ADD COLUMN vote_winner_label varchar(200) NOT NULL DEFAULT '',
    ADD COLUMN vote_closed_at timestamptz,
    ADD COLUMN vote_quorum_met boolean,
    ADD COLUMN vote_decision_follows boolean,
    ADD COLUMN vote_decision_operator_id integer REFERENCES provider_operator (id),
    ADD COLUMN vote_decision_label varchar(200) NOT NULL DEFAULT '',
    ADD COLUMN vote_decision_reason text NOT NULL DEFAULT '',
    ADD COLUMN vote_decided_by integer REFERENCES account_user (id),
    ADD COLUMN vote_decided_at timestamptz,
    ADD CONSTRAINT market_need_vote_closed CHECK ((vote_poll_id IS NULL) = (vote_closed_at IS NULL)),
    ADD CONSTRAINT market_need_vote_decided CHECK (
        (vote_decided_at IS NULL) = (vote_decision_follows IS NULL)
        AND (vote_decided_at IS NULL OR vote_poll_id IS NOT NULL)
        AND (vote_decision_follows IS NOT FALSE OR btrim(vote_decision_reason) <> '')
    );
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="market", description=DESCRIPTION)

    async def run():
        await run_sql_script(SQL)

    manager.add_raw(run)
    return manager
