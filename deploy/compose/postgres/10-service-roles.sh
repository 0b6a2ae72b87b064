#!/bin/sh
# The services' own roles: each service signs in as linkcredit_<service>,
# the owner of its schema and of nothing else, never as POSTGRES_USER (a
# superuser in this image, whose COPY ... TO PROGRAM is a shell in the
# container). pkg/database/serviceroles.sql, mounted at
# /linkcredit/service-roles.sql, makes the roles and schemas (and hands
# over the schemas of a volume made before it); this script then lets each
# role sign in with its password from .env.
#
# PostgreSQL's image runs this once, when it initialises an empty volume
# (scripts in /docker-entrypoint-initdb.d in name order, as POSTGRES_USER).
# For a volume initialised before this script existed, stop the three
# services and run it once, then 20-grafana-reader.sh:
#   docker compose stop redirect conversions reporting
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-service-roles.sh
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/20-grafana-reader.sh
#   docker compose up -d
# Running it again changes nothing but the passwords.
set -eu
: "${REDIRECT_DB_PASSWORD:?set REDIRECT_DB_PASSWORD in .env}"
: "${CONVERSIONS_DB_PASSWORD:?set CONVERSIONS_DB_PASSWORD in .env}"
: "${REPORTING_DB_PASSWORD:?set REPORTING_DB_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-f "${SERVICE_ROLES_SQL:-/linkcredit/service-roles.sql}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v redirect="$REDIRECT_DB_PASSWORD" -v conversions="$CONVERSIONS_DB_PASSWORD" -v reporting="$REPORTING_DB_PASSWORD" <<'SQL'
SELECT format('ALTER ROLE linkcredit_redirect LOGIN PASSWORD %L', :'redirect') \gexec
SELECT format('ALTER ROLE linkcredit_conversions LOGIN PASSWORD %L', :'conversions') \gexec
SELECT format('ALTER ROLE linkcredit_reporting LOGIN PASSWORD %L', :'reporting') \gexec
SQL
