# 10000 bytes on stderr, one line on stdout.
head -c 10000 /dev/zero | tr '\0' e >&2
echo "ok=1"
