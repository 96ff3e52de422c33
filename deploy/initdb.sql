-- The database's first start (docker-entrypoint-initdb.d, or psql as a superuser on a plain server):
-- the extensions, which only a superuser may create, and the service's own role, which owns the
-- database and its public schema but is no superuser. Everything else is the migrations' work, run
-- as that role.
--
--   SANICHAIN_DB_PASSWORD=… psql -v ON_ERROR_STOP=1 -U postgres -d sanichain -f deploy/initdb.sql
--
-- The password comes from the environment (psql 15's \getenv), never from this file; without it the
-- script fails before it changes anything.
\set ON_ERROR_STOP on
\getenv app_password SANICHAIN_DB_PASSWORD
\if :{?app_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'SANICHAIN_DB_PASSWORD is not set: the service role needs a password'; END $$;
\endif

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pgrouting;

CREATE ROLE sanichain LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
-- the role owns the database (so also the public schema, whose owner is pg_database_owner) and
-- creates every table, index and trigger in it
SELECT format('ALTER DATABASE %I OWNER TO sanichain', current_database()) \gexec
ALTER SCHEMA public OWNER TO sanichain;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
