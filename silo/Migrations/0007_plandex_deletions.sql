-- Deletion receipts: what was deleted and when; no content. purge_due = deleted_at + the backup window.
CREATE TABLE plandex_deletion_receipts
(
    id         uuid        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('plan', 'account')),
    subject_id uuid        NOT NULL,
    org_id     uuid        NULL,
    deleted_by uuid        NOT NULL,
    deleted_at timestamptz NOT NULL,
    purge_due  timestamptz NOT NULL,
    purged_at  timestamptz NULL
);
CREATE INDEX plandex_deletion_receipts_org ON plandex_deletion_receipts (org_id);
