# Never ends on its own; a background child holds stdout too.
echo "pgid=$$"
sleep 1000 &
sleep 1000
