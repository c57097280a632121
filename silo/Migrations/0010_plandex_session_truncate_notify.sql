-- Row triggers do not fire on TRUNCATE: an operator who empties plandex_sessions ends every session at once, and
-- every listening silo must hear it (the payload '*' names no account: silos forget every check they hold).
CREATE FUNCTION plandex_sessions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('plandex_session_ended', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER plandex_sessions_truncated AFTER TRUNCATE ON plandex_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION plandex_sessions_truncated();
