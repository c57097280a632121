-- Columns that hold AES-GCM ciphertext are stored out of line without a compression attempt (STORAGE EXTERNAL).
-- Ciphertext never compresses, yet PostgreSQL runs pglz over any value past its ~2 KB TOAST threshold before it gives
-- up: ~0.5 ms of wasted CPU for a 130 KB reply measured on this stack (PERF-NOTES, twenty-fourth session). Existing
-- rows are left as they are; the setting applies to values written from now on.
ALTER TABLE plandex_plan_messages ALTER COLUMN content SET STORAGE EXTERNAL;
ALTER TABLE plandex_context_items ALTER COLUMN meta SET STORAGE EXTERNAL;
ALTER TABLE plandex_context_items ALTER COLUMN body SET STORAGE EXTERNAL;
-- Orleans' grain state: content-bearing grains are sealed before they reach storage (SealedGrainStorage); the one
-- unsealed state (the retention grain's timestamps) stays far below the threshold where compression is tried.
ALTER TABLE orleansstorage ALTER COLUMN payloadbinary SET STORAGE EXTERNAL;
