# Closes both pipes, then keeps running: the run must still wait for the exit code.
exec >&- 2>&-
sleep 0.2
exit 4
