# Leaves an orphan (not holding our pipes) and exits 5.
(sleep 0.5 >/dev/null 2>&1 </dev/null &)
echo "a=1"
exit 5
