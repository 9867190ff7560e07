# Exits at once but leaves a grandchild that holds stdout for 5 s.
echo "pgid=$$"
(sleep 5 &)
echo "a=1"
