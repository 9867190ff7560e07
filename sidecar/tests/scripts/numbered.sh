# For concurrent runs: NODE_NAME is node-<n>; prints n, takes a while, exits n.
n=${NODE_NAME#node-}
echo "n=$n"
sleep 0.2
exit "$n"
