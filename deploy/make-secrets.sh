#!/usr/bin/env sh
# Create the random secrets docker-compose.yml needs, without overwriting existing ones.
# The IB password is yours to write: printf '%s' 'password' > secrets/tws_password.txt
#
# Files are 0444 inside a 0700 folder: other users of the host cannot reach them, and every
# container (each runs as its own uid) can read the one file mounted into it.
set -eu
dir="${SECRETS_DIR:-./secrets}"
mkdir -p "$dir"
chmod 700 "$dir"
for name in redis_password api_token grafana_admin_password; do
    file="$dir/$name.txt"
    if [ -s "$file" ]; then
        echo "kept    $file"
    else
        # Hex only: safe in URLs, config files and shell without quoting.
        od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$file"
        echo "created $file"
    fi
done
if [ ! -e "$dir/tws_password.txt" ]; then
    # An empty placeholder so the `sim` profile starts; the `ibkr` profile needs the real one.
    : > "$dir/tws_password.txt"
    echo "created $dir/tws_password.txt (empty: write the gateway user's IB password into it for the ibkr profile)"
fi
chmod 444 "$dir"/*.txt
