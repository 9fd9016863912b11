#!/bin/bash
# IB Gateway inside its weekly window, with its login told to the bridge (no Docker socket).
#
# The entrypoint of the `ib-gateway` service (docker-compose.yml): runs the image's own
# start script ("$@", /home/ibgateway/scripts/run.sh) only inside the weekly window
# REBALANCER_GATEWAY_WINDOW ("Sun 12:00-Fri 18:00", in REBALANCER_GATEWAY_WINDOW_TZ), stops
# it (SIGTERM, as `docker stop` would) when the window closes and waits for the next opening.
# Empty window: always up. It copies the gateway's output (IBC's log) to its own, and writes
# what it sees to GATEWAY_STATUS_FILE, a small shared volume the gateway-bridge reads:
#   {"state": "window_closed", "at": ..., "next_open": ...}
#   {"state": "starting", "at": ...}
#   {"state": "awaiting_2fa", "attempt": N, "at": ...}   IBC shows the 2FA dialog (IB Key push)
#   {"state": "logged_in", "at": ...}
# The bridge turns a 2FA prompt into SecondFactorRequested, the notifier into an alert.
#
#   window.sh --check     prints "open" or "closed <minutes until it opens>" (tests, ops)
#   WINDOW_NOW=<epoch s>  pretends the time is that (tests)
set -uo pipefail

WINDOW="${REBALANCER_GATEWAY_WINDOW-}"
WINDOW_TZ="${REBALANCER_GATEWAY_WINDOW_TZ:-America/New_York}"
STATUS="${GATEWAY_STATUS_FILE:-}"
POLL_S="${GATEWAY_WINDOW_POLL_S:-30}"
# IBC logs each dialog it handles; these are the 2FA dialog's title and the end of a login.
TWOFA_PATTERN="${GATEWAY_2FA_PATTERN:-Second Factor Authentication}"
LOGIN_PATTERN="${GATEWAY_LOGIN_DONE_PATTERN:-Login has completed}"
# Lines about one dialog within this many seconds are the same prompt.
PROMPT_GAP_S="${GATEWAY_2FA_PROMPT_GAP_S:-30}"
WEEK=10080

minute_of_week() { # "Sun 12:00" -> minutes since Monday 00:00
	local point day hhmm h m i
	point="$(echo "$1" | xargs)"
	day="${point%% *}"
	hhmm="${point##* }"
	day="${day,,}"
	day="${day:0:3}"
	local days=(mon tue wed thu fri sat sun)
	for i in 0 1 2 3 4 5 6; do
		if [[ "${days[$i]}" == "$day" ]]; then
			h="${hhmm%%:*}"
			m="${hhmm##*:}"
			if [[ ! "$h" =~ ^[0-9]{1,2}$ || ! "$m" =~ ^[0-9]{2}$ ]]; then
				break
			fi
			echo $((i * 1440 + 10#$h * 60 + 10#$m))
			return 0
		fi
	done
	echo "window.sh: REBALANCER_GATEWAY_WINDOW: '$1' is not a day and a time (e.g. Sun 12:00-Fri 18:00)" >&2
	exit 2
}

now_minute() { # the minute of the week now, in the window's time zone
	local at u hh mm
	at="${WINDOW_NOW:-$(date +%s)}"
	read -r u hh mm < <(TZ="$WINDOW_TZ" date -d "@$at" '+%u %H %M')
	echo $(((u - 1) * 1440 + 10#$hh * 60 + 10#$mm))
}

OPENS=""
CLOSES=""
if [[ -n "${WINDOW// /}" ]]; then
	if [[ "$WINDOW" != *-* ]]; then
		echo "window.sh: REBALANCER_GATEWAY_WINDOW: '$WINDOW' needs an opening and a closing, separated by -" >&2
		exit 2
	fi
	OPENS="$(minute_of_week "${WINDOW%%-*}")" || exit 2
	CLOSES="$(minute_of_week "${WINDOW#*-}")" || exit 2
fi

minutes_to_open() { # 0 when the window is open (or there is none), else minutes until it opens
	[[ -z "$OPENS" ]] && { echo 0; return; }
	local now
	now="$(now_minute)"
	if ((OPENS < CLOSES)); then
		((now >= OPENS && now < CLOSES)) && { echo 0; return; }
	else
		((now >= OPENS || now < CLOSES)) && { echo 0; return; }
	fi
	echo $(((OPENS - now + WEEK) % WEEK))
}

stamp() { date -u -d "@${WINDOW_NOW:-$(date +%s)}" '+%Y-%m-%dT%H:%M:%SZ'; }

write_status() { # write_status STATE [extra json members]
	[[ -z "$STATUS" ]] && return 0
	local extra="${2:-}"
	printf '{"state": "%s", "at": "%s"%s}\n' "$1" "$(stamp)" "${extra:+, $extra}" >"$STATUS.tmp" &&
		mv -f "$STATUS.tmp" "$STATUS"
}

watch_output() { # copy the gateway's output; tell 2FA prompts and completed logins
	local line attempt=0 last=0 now
	while IFS= read -r line; do
		printf '%s\n' "$line"
		if [[ "$line" == *"$TWOFA_PATTERN"* ]]; then
			now="$(date +%s)"
			if ((now - last >= PROMPT_GAP_S)); then
				attempt=$((attempt + 1))
				write_status awaiting_2fa "\"attempt\": $attempt"
				echo "window.sh: IB Gateway waits for the IB Key approval (attempt $attempt)"
			fi
			last="$now"
		elif [[ "$line" == *"$LOGIN_PATTERN"* ]]; then
			attempt=0
			write_status logged_in
		fi
	done
}

if [[ "${1:-}" == "--check" ]]; then
	wait_min="$(minutes_to_open)"
	if ((wait_min == 0)); then echo open; else echo "closed $wait_min"; fi
	exit 0
fi

child=""
stop() {
	[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null && wait "$child"
	exit 0
}
trap stop TERM INT

while true; do
	wait_min="$(minutes_to_open)"
	if ((wait_min > 0)); then
		opens_at="$(date -u -d "@$(($(date +%s) + wait_min * 60))" '+%Y-%m-%dT%H:%M:00Z')"
		write_status window_closed "\"next_open\": \"$opens_at\""
		echo "window.sh: outside the weekly window ($WINDOW $WINDOW_TZ); IB Gateway starts at $opens_at"
		sleep "$((wait_min * 60 < POLL_S ? wait_min * 60 : POLL_S))" &
		child=$!
		wait "$child"
		child=""
		continue
	fi
	write_status starting
	"$@" > >(watch_output) 2>&1 &
	child=$!
	while kill -0 "$child" 2>/dev/null; do
		if (($(minutes_to_open) > 0)); then
			echo "window.sh: the weekly window ($WINDOW $WINDOW_TZ) closed; stopping IB Gateway"
			kill -TERM "$child"
			wait "$child"
			break
		fi
		sleep "$POLL_S" &
		wait $!
	done
	if (($(minutes_to_open) == 0)); then
		wait "$child"
		code=$?
		child=""
		write_status stopped "\"exit_code\": $code"
		exit "$code" # ended on its own inside the window: compose restarts the container
	fi
	child=""
done
