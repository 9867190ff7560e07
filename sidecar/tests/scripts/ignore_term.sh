# Ignores SIGTERM (and so do its children, which inherit SIG_IGN): only SIGKILL ends it.
trap '' TERM
echo "pgid=$$"
while :; do sleep 0.05; done
