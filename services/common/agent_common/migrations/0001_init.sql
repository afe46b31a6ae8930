-- Sessions: only a SHA-256 of the token is stored, never the token itself.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE chat_messages (
    id                bigserial PRIMARY KEY,
    user_id           text NOT NULL,
    role              text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content           text NOT NULL,
    model             text,
    prompt_tokens     integer,
    completion_tokens integer,
    latency_ms        integer,
    cost_usd          numeric(12, 6),
    error             text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX chat_messages_user_idx ON chat_messages (user_id, id);

CREATE TABLE tasks (
    task_id     uuid PRIMARY KEY,
    user_id     text NOT NULL,
    title       text NOT NULL,
    description text NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')),
    result      text,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC);

-- One row per planned step. seq orders the steps of a task from 0.
CREATE TABLE task_steps (
    task_id      uuid NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    seq          smallint NOT NULL,
    type         text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- skipped: a step after one that failed, never run
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled', 'skipped')),
    output       jsonb,
    error        text,
    attempts     integer NOT NULL DEFAULT 0,
    -- id of the stream message that currently carries this step (for the reconciler)
    stream_id    text,
    enqueued_at  timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (task_id, seq)
);
-- the reconciler scans unfinished steps only
CREATE INDEX task_steps_open_idx ON task_steps (enqueued_at) WHERE status IN ('queued', 'processing');
