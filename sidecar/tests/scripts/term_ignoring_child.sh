# Exits on SIGTERM, but leaves a background child that ignores SIGTERM and holds
# stdout: only the group SIGKILL at the end of the timed-out run ends it.
echo "pgid=$$"
(trap '' TERM; while :; do sleep 0.05; done) &
trap 'exit 0' TERM
sleep 1000 &
wait
