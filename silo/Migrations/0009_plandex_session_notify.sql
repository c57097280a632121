-- Silos let a tell's continuations (Tell, Subscribe, a watch's renewals) reuse a session check for as long as
-- nothing ended the session. A session that ends here (revoked, or deleted with its account) tells every
-- listening silo at commit, whichever code or person changed the row. The payload is the account id only.
CREATE FUNCTION plandex_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('plandex_session_ended', OLD.account_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER plandex_session_ended AFTER UPDATE OR DELETE ON plandex_sessions
    FOR EACH ROW EXECUTE FUNCTION plandex_session_ended();
