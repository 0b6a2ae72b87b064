#!/bin/sh
# The role Grafana's "Ledger" data source signs in as: it may read the
# reporting schema's tables and nothing else (no write, no other schema, no
# superuser's COPY ... TO PROGRAM), ten connections and 30 s a statement at
# most. Reporting's tables hold no secret: dashboard sessions keep digests
# and bindings keyed by ids the table does not hold. PostgreSQL's image runs this once, when
# it initialises an empty volume (mounted on /docker-entrypoint-initdb.d),
# as POSTGRES_USER, after 10-service-roles.sh made linkcredit_reporting, the
# role whose migrations then create the tables; the default privileges
# below give the reader each table as that role creates it. For a volume
# initialised before this script existed, run it once (after
# 10-service-roles.sh):
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/20-grafana-reader.sh
# Running it again changes nothing but the password.
set -eu
: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 -v pw="$GRAFANA_DB_PASSWORD" --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
SELECT 'CREATE ROLE grafana_reader LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grafana_reader') \gexec
SELECT format('ALTER ROLE grafana_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 10 PASSWORD %L', :'pw') \gexec
ALTER ROLE grafana_reader SET statement_timeout = '30s';
GRANT USAGE ON SCHEMA reporting TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE linkcredit_reporting IN SCHEMA reporting GRANT SELECT ON TABLES TO grafana_reader;
SQL
