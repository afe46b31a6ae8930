-- Plans are graphs: each step has an id within its task and the ids of the steps it reads.
-- seq stays the step's address (its stream messages name task_id and seq) and its place
-- in the plan's order.
ALTER TABLE task_steps
    ADD COLUMN step_id    text,
    ADD COLUMN depends_on text[] NOT NULL DEFAULT '{}',
    -- its failure does not fail the task: the steps after it run without its output
    ADD COLUMN optional   boolean NOT NULL DEFAULT false,
    -- dependencies not finished yet; the write that brings it to 0 also enqueues the step,
    -- so exactly one of several branches finishing at once moves the join on
    ADD COLUMN waiting    smallint NOT NULL DEFAULT 0 CHECK (waiting >= 0);

-- the steps of tasks planned before graphs: a chain, each step reading the one before
UPDATE task_steps SET step_id = type || '_' || (seq + 1);
UPDATE task_steps s
   SET depends_on = ARRAY[p.step_id],
       waiting = CASE WHEN p.status = 'completed' THEN 0 ELSE 1 END
  FROM task_steps p
 WHERE p.task_id = s.task_id AND p.seq = s.seq - 1;

-- Unique within its task: every plan is validated before it is stored (agent_common.plans
-- refuses two steps with one id, a re-plan's included). No index enforces it a second time:
-- each claim and record of a step rewrites its row, and a third index on task_steps cost
-- the one-step pipeline benchmark 12% of its throughput (PostgreSQL CPU +20%). Lookups by
-- id go through the primary key's task_id, a task having a few steps.
ALTER TABLE task_steps ALTER COLUMN step_id SET NOT NULL;

-- how the task was planned: by the rules or by a model (with what it cost), and why a
-- model's plan was not used when it was asked for one
ALTER TABLE tasks
    ADD COLUMN plan_source            text NOT NULL DEFAULT 'rules' CHECK (plan_source IN ('rules', 'llm')),
    ADD COLUMN plan_note              text,
    ADD COLUMN plan_model             text,
    ADD COLUMN plan_prompt_tokens     integer,
    ADD COLUMN plan_completion_tokens integer,
    ADD COLUMN plan_cost_usd          numeric(12, 6),
    ADD COLUMN plan_latency_ms        integer,
    -- a model's one re-plan after the branches completed: the steps it added (0: none)
    ADD COLUMN replanned_steps        integer;
