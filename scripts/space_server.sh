#!/usr/bin/env bash
# Humidity and temperature of an HTU21D/Si7021 (I2C address 0x40) via i2cget, as
# key=value lines for edge-sidecar. Prints nothing (and exits 1) if the sensor does
# not answer, so the sidecar keeps the last good values instead of zeros.
#   I2C_BUS  (default 1)        I2CGET  (default i2cget; tests put a fake here)
set -euo pipefail

bus=${I2C_BUS:-1}
i2cget=${I2CGET:-i2cget}
address=0x40

# A word read returns the two bytes swapped (SMBus is little-endian, the chip sends
# MSB first); the two status bits are cleared before converting.
read_raw() {
  local word
  word=$("$i2cget" -y "$bus" "$address" "$1" w) || return 1
  printf '%d\n' $(( ((word & 0xff) << 8 | (word >> 8)) & 0xfffc ))
}

raw_t=$(read_raw 0xe3) || exit 1
raw_rh=$(read_raw 0xe5) || exit 1

awk -v t="$raw_t" -v rh="$raw_rh" 'BEGIN {
  printf "temperature_celsius=%.2f\n", -46.85 + 175.72 * t / 65536
  printf "humidity_percent=%.2f\n", -6 + 125 * rh / 65536
}'
