#!/bin/sh
# `redis-server ARGS…` as the official image runs it: protected mode off (see redis.Dockerfile).
if [ "${1:-}" = redis-server ]; then
    exec "$@" --protected-mode no
fi
exec "$@"
