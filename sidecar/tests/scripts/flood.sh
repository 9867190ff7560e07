# Exactly 20 000 000 bytes on stdout, far over the runner's cap.
yes 'x=1' | head -c 20000000
