#!/bin/sh
# npm start: raise the descriptor limit as far as allowed, then run the sample personality.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node dist/src/cli/main.js start "${SERVER_PERSONALITY_PATH:-personality}"
