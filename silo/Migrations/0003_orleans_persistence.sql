-- Grain state (AdoNet grain storage). Payloads arrive already serialized by the silo's storage serializer.
CREATE TABLE orleansstorage
(
    grainidhash            integer      NOT NULL,
    grainidn0              bigint       NOT NULL,
    grainidn1              bigint       NOT NULL,
    graintypehash          integer      NOT NULL,
    graintypestring        varchar(512) NOT NULL,
    grainidextensionstring varchar(512) NULL,
    serviceid              varchar(150) NOT NULL,
    payloadbinary          bytea        NULL,
    modifiedon             timestamptz  NOT NULL,
    version                integer      NULL
);
CREATE INDEX orleansstorage_lookup ON orleansstorage (grainidhash, graintypehash);

-- Optimistic write: update when the caller's version matches, insert when it read nothing.
-- Returns the new version; returning the old one tells Orleans the write lost a race.
CREATE FUNCTION plx_storage_write(
    p_idhash integer, p_n0 bigint, p_n1 bigint, p_typehash integer, p_type varchar, p_ext varchar,
    p_service varchar, p_version integer, p_payload bytea)
RETURNS TABLE (newgrainstateversion integer) LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    IF p_version IS NOT NULL THEN
        UPDATE orleansstorage
           SET payloadbinary = p_payload, modifiedon = now(), version = version + 1
         WHERE grainidhash = p_idhash AND graintypehash = p_typehash AND grainidn0 = p_n0 AND grainidn1 = p_n1
           AND graintypestring = p_type AND grainidextensionstring IS NOT DISTINCT FROM p_ext
           AND serviceid = p_service AND version = p_version;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 OR EXISTS (
            SELECT 1 FROM orleansstorage
             WHERE grainidhash = p_idhash AND graintypehash = p_typehash AND grainidn0 = p_n0 AND grainidn1 = p_n1
               AND graintypestring = p_type AND grainidextensionstring IS NOT DISTINCT FROM p_ext
               AND serviceid = p_service) THEN
            RETURN QUERY SELECT CASE WHEN n > 0 THEN p_version + 1 ELSE p_version END;
            RETURN;
        END IF;
        -- The row was cleared (deleted) earlier: write it afresh, continuing the version sequence.
        PERFORM pg_advisory_xact_lock(p_idhash, p_typehash);
        INSERT INTO orleansstorage
            (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid,
             payloadbinary, modifiedon, version)
        VALUES (p_idhash, p_n0, p_n1, p_typehash, p_type, p_ext, p_service, p_payload, now(), p_version + 1);
        RETURN QUERY SELECT p_version + 1;
        RETURN;
    END IF;

    -- First write: serialize competing inserts of the same grain on a transaction-scoped advisory lock.
    PERFORM pg_advisory_xact_lock(p_idhash, p_typehash);
    INSERT INTO orleansstorage
        (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid,
         payloadbinary, modifiedon, version)
    SELECT p_idhash, p_n0, p_n1, p_typehash, p_type, p_ext, p_service, p_payload, now(), 1
     WHERE NOT EXISTS (
        SELECT 1 FROM orleansstorage
         WHERE grainidhash = p_idhash AND graintypehash = p_typehash AND grainidn0 = p_n0 AND grainidn1 = p_n1
           AND graintypestring = p_type AND grainidextensionstring IS NOT DISTINCT FROM p_ext
           AND serviceid = p_service);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT CASE WHEN n > 0 THEN 1 ELSE NULL::integer END;
END $$;

INSERT INTO orleansquery (querykey, querytext) VALUES
('WriteToStorageKey', '
    SELECT newgrainstateversion FROM plx_storage_write(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash,
        @GrainTypeString, @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary);'),
('ReadFromStorageKey', '
    SELECT payloadbinary, NULL::text AS payloadxml, NULL::text AS payloadjson, now(), version
      FROM orleansstorage
     WHERE grainidhash = @GrainIdHash AND graintypehash = @GrainTypeHash
       AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1
       AND graintypestring = @GrainTypeString
       AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
       AND serviceid = @ServiceId;'),
-- Clearing a grain's state deletes its row: our deletion promise wants the bytes gone, not nulled.
('ClearStorageKey', '
    WITH gone AS (
        DELETE FROM orleansstorage
         WHERE grainidhash = @GrainIdHash AND graintypehash = @GrainTypeHash
           AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1
           AND graintypestring = @GrainTypeString
           AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
           AND serviceid = @ServiceId AND version = @GrainStateVersion
        RETURNING version)
    SELECT COALESCE((SELECT version + 1 FROM gone), @GrainStateVersion) AS newgrainstateversion;');
