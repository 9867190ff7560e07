# What a script gets from the runner: NODE_NAME, its own directory as cwd, an empty
# stdin. Exits 3 so the test sees the exit code come back.
echo "node=$NODE_NAME"
echo "cwd=$PWD"
echo "stdin=$(cat)"
echo "a=1"
exit 3
