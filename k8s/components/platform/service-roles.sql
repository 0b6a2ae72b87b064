-- One PostgreSQL role per service, each the owner of its service's schema
-- and of nothing else: linkcredit_redirect owns schema redirect,
-- linkcredit_conversions schema conversions, linkcredit_reporting schema
-- reporting. A service can change its own tables (its migrations run as
-- it) and cannot read or write another service's: a flaw in the public
-- redirect cannot reach the ledger. None is a superuser (no COPY ... TO
-- PROGRAM), none may create roles or databases; reporting alone may create
-- a schema, for `reporting replay -schema ...`.
--
-- Run as a superuser in the application database: CloudNativePG's
-- postInitApplicationSQLRefs (k8s/components/platform), the compose
-- postgres image's init script (deploy/compose/postgres), localstack (make
-- run), or by hand for a database made before this file existed. The
-- roles are made without LOGIN; whoever runs this gives each its login
-- and password (CloudNativePG's managed roles, the compose script).
-- Running it again changes nothing. A schema that already exists (made by
-- an earlier release, as the database owner) is handed over to its role
-- with every table, sequence, view, function and type in it.
--
-- The copy in k8s/components/platform/service-roles.sql is this file,
-- byte for byte (deploy/manifests checks it).
DO $roles$
DECLARE
    svc  text;
    role text;
    obj  record;
BEGIN
    FOREACH svc IN ARRAY ARRAY['redirect', 'conversions', 'reporting'] LOOP
        role := 'linkcredit_' || svc;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- made at the same moment by another database's run
            END;
        END IF;
        EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', role);
        -- Names resolve in pg_catalog and the role's own schema only, never
        -- in a schema another role could make ("$user", public): reporting
        -- may create schemas, and a function it put first on redirect's path
        -- would run as redirect (CVE-2018-1058).
        EXECUTE format('ALTER ROLE %I SET search_path = %I', role, svc);
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, role);
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', svc, role);
        -- Tables (their indexes, triggers and owned sequences follow),
        -- partitions, views and sequences of their own.
        FOR obj IN
            SELECT c.oid::regclass AS name,
                   CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                  WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                                  ELSE 'TABLE' END AS kind
            FROM pg_class c
            WHERE c.relnamespace = svc::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND c.relowner <> role::regrole
              AND NOT (c.relkind = 'S' AND EXISTS (
                  SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
        LOOP
            EXECUTE format('ALTER %s %s OWNER TO %I', obj.kind, obj.name, role);
        END LOOP;
        FOR obj IN
            SELECT p.oid::regprocedure AS name FROM pg_proc p
            WHERE p.pronamespace = svc::regnamespace AND p.proowner <> role::regrole
        LOOP
            EXECUTE format('ALTER ROUTINE %s OWNER TO %I', obj.name, role);
        END LOOP;
        FOR obj IN
            SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
            FROM pg_type t
            WHERE t.typnamespace = svc::regnamespace AND t.typowner <> role::regrole
              AND (t.typtype IN ('e', 'd', 'r', 'm')
                   OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
        LOOP
            EXECUTE format('ALTER %s %s OWNER TO %I', obj.kind, obj.name, role);
        END LOOP;
    END LOOP;
    EXECUTE format('GRANT CREATE ON DATABASE %I TO linkcredit_reporting', current_database());
END
$roles$;
