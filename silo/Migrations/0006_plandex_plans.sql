-- Plan content lives in its own tables so appending a message or loading a file costs O(that item), never a
-- rewrite of the plan's grain state. Content columns are bytea (ciphertext once encryption at rest lands).

CREATE TABLE plandex_plan_messages
(
    plan_id    uuid        NOT NULL,
    seq        integer     NOT NULL,
    role       text        NOT NULL CHECK (role IN ('user', 'assistant')),
    content    bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    tokens     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (plan_id, seq)
);

CREATE TABLE plandex_context_items
(
    plan_id    uuid        NOT NULL,
    path       text        NOT NULL,
    body       bytea       NOT NULL,
    sha256     bytea       NOT NULL,
    size       bigint      NOT NULL,
    tokens     integer     NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (plan_id, path)
);
