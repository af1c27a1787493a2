"""The audit log: who did what to which target, with what outcome, from where."""
