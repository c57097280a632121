-- Emails are found by HMACs under keys derived from the epoch keys, one row per live epoch, instead of one HMAC
-- under a server key that never changed: a copy of these tables in a backup can be tested against a guessed
-- address only while its epochs live, i.e. at most the retention window (README, "Deletion, encryption at rest
-- and backups"). The email itself is kept sealed under the account's data key so that each epoch's rows can be
-- made at rotation.

-- Rows written before this migration (HMAC under email-lookup.key). They are moved to the new tables as their
-- accounts activate (the retention grain activates every one at its next tick); once none is left, the old key is
-- destroyed.
ALTER TABLE plandex_email_index RENAME TO plandex_email_index_legacy;
ALTER TABLE plandex_email_index_legacy RENAME CONSTRAINT plandex_email_index_pkey TO plandex_email_index_legacy_pkey;
ALTER INDEX plandex_email_index_account_id_key RENAME TO plandex_email_index_legacy_account_id_key;

CREATE TABLE plandex_email_index
(
    account_id   uuid        PRIMARY KEY,
    sealed_email bytea       NOT NULL,   -- sealed under the account's data key (purpose "email-index")
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per account and live epoch: HMAC of the normalised email under that epoch's lookup key. A sign-up writes
-- a row for every live epoch, so two accounts with one email always collide in an epoch both have.
CREATE TABLE plandex_email_lookup
(
    epoch      bigint NOT NULL,
    email_hash bytea  NOT NULL,
    account_id uuid   NOT NULL,
    PRIMARY KEY (epoch, email_hash)
);
CREATE UNIQUE INDEX plandex_email_lookup_account ON plandex_email_lookup (account_id, epoch);

-- Invites name their email by its HMAC under the epoch current when they were made (NULL: the old key).
ALTER TABLE plandex_invites ADD COLUMN epoch bigint NULL;

-- Failure counters per invited email or sign-in email were keyed by the old HMAC; they last 15 minutes.
DELETE FROM plandex_auth_failures WHERE scope IN ('invite-code:target', 'signin-code:target');
