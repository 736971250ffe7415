#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# a role and database for Synapse, which requires the C collation. The password comes from
# the container's environment (SYNAPSE_DB_PASSWORD), never from this file.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v synapse_password="$SYNAPSE_DB_PASSWORD" <<'SQL'
CREATE ROLE synapse LOGIN PASSWORD :'synapse_password';
CREATE DATABASE synapse OWNER synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL
