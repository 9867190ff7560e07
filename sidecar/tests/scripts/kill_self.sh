# Dies of a signal of its own.
kill -KILL $$
