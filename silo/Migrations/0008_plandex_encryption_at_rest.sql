-- Encryption at rest. Plan, account and org content is stored only as AES-GCM ciphertext under a data key of its
-- subject; data keys are stored only wrapped by an epoch key that lives outside the database (see README,
-- "Deletion, encryption at rest and backups").

-- Databases written by the release before this one hold plaintext the database cannot encrypt by itself (the keys
-- live with the silos). There was one pre-release landing; refuse rather than leave plaintext behind.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM plandex_email_index) OR EXISTS (SELECT 1 FROM plandex_plan_messages)
       OR EXISTS (SELECT 1 FROM plandex_context_items) THEN
        RAISE EXCEPTION 'migration 0008 (encryption at rest) needs a database without accounts or plans from the pre-release: start from an empty database';
    END IF;
END $$;

CREATE TABLE plandex_data_keys
(
    subject_id uuid        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('plan', 'account', 'org')),
    epoch      bigint      NOT NULL,   -- the epoch key that wraps it (epoch start, Unix seconds)
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plandex_data_keys_epoch ON plandex_data_keys (epoch);

-- Context items are looked up by a keyed hash of their path; the path itself is sealed with the body's digest.
DROP TABLE plandex_context_items;
CREATE TABLE plandex_context_items
(
    plan_id    uuid        NOT NULL,
    path_key   bytea       NOT NULL,   -- HMAC of the path under a key derived from the plan's data key
    meta       bytea       NOT NULL,   -- sealed: path and SHA-256 of the body
    body       bytea       NOT NULL,   -- sealed
    size       bigint      NOT NULL,
    tokens     integer     NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (plan_id, path_key)
);

-- Receipts: org and account deletions too; key_epoch is the epoch that wrapped the subject's key when it was
-- dropped: once that epoch (and so every older one) is destroyed, no copy anywhere can be decrypted.
ALTER TABLE plandex_deletion_receipts DROP CONSTRAINT plandex_deletion_receipts_kind_check;
ALTER TABLE plandex_deletion_receipts ADD CONSTRAINT plandex_deletion_receipts_kind_check CHECK (kind IN ('plan', 'account', 'org'));
ALTER TABLE plandex_deletion_receipts ADD COLUMN key_epoch bigint NULL;
CREATE INDEX plandex_deletion_receipts_unpurged ON plandex_deletion_receipts (purge_due) WHERE purged_at IS NULL;
