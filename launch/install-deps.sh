#!/bin/bash
# Installs the Debian 12 packages hpff_pipe needs (launch/debian-packages.txt). Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2046
apt-get install -y -qq --no-install-recommends $(grep -v '^#' "$here/debian-packages.txt") > /dev/null
echo "install-deps: $(grep -vc '^#' "$here/debian-packages.txt") packages present"
