"""The durable task engine (R11): long operations as tracked workflows of steps.

Creating or importing a cluster, adding nodes, draining: each is a *task* of a
registered *task type* — an ordered list of *steps*. Workers (one inside
``shoal server`` by default, more with ``shoal worker``) claim runnable tasks
under a lease they keep renewing, run the next unfinished step, and record its
outcome and log lines in the database, so a task survives the death of the
process running it: another worker takes over once the lease expires and
resumes *at the step that was running*.

Steps must be idempotent
    A step may run more than once: when its worker dies mid-step, when it
    raises ``TemporaryError`` and is retried, and when a user retries a failed
    task. The engine guarantees that a step which *finished* (SUCCESS or SKIP)
    is never run again, but the step that was interrupted is re-run from its
    start. Write steps so that a second run converges to the same result:
    look before you create ("exists? then skip"), use upserts and stable
    names, and keep what you learnt in ``ctx.state`` (saved when the step
    succeeds).

Modules
    ``models``    tables: tasks, task_steps, task_logs
    ``registry``  step types and task types register here; ``TemporaryError``,
                  ``PermanentError``; the ``StepContext`` a step receives
    ``service``   create, list, read, retry, skip, cancel (authorisation, audit)
    ``worker``    claiming with leases, running steps, timeouts, backoff
    ``demo``      a demo task type (``shoal-DemoTask``) for ``make demo`` and tests
"""
