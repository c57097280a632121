-- Accounts: lookups by secret-derived values live in tables, never in grain keys.
-- Emails are looked up by a keyed hash (HMAC), tokens and codes by SHA-256: no plaintext secret is stored.

CREATE TABLE plandex_email_index
(
    email_hash bytea       PRIMARY KEY,
    account_id uuid        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row ever: whoever inserts it is the server's first owner (bootstrap secret sign-up).
CREATE TABLE plandex_bootstrap
(
    id         integer     PRIMARY KEY CHECK (id = 1),
    account_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plandex_sessions
(
    token_hash bytea       PRIMARY KEY,
    account_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL
);
CREATE INDEX plandex_sessions_account ON plandex_sessions (account_id);

CREATE TABLE plandex_invites
(
    code_hash  bytea       PRIMARY KEY,
    org_id     uuid        NOT NULL,
    email_hash bytea       NOT NULL,
    role       text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_by uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL
);
CREATE INDEX plandex_invites_org ON plandex_invites (org_id);

CREATE TABLE plandex_signin_codes
(
    code_hash  bytea       PRIMARY KEY,
    account_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL
);
CREATE INDEX plandex_signin_codes_account ON plandex_signin_codes (account_id);

-- Failed attempts per (scope, key) in fixed windows, shared by every silo (brute-force limits).
CREATE TABLE plandex_auth_failures
(
    scope        text        NOT NULL,
    key          bytea       NOT NULL,
    window_start timestamptz NOT NULL,
    failures     integer     NOT NULL,
    PRIMARY KEY (scope, key)
);
