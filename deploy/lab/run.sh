#!/usr/bin/env bash
# Builds the ipiscope image with deploy/Dockerfile and runs deploy/docker-compose.yml on a Docker
# engine of its own, on a host that has no engine and cannot reach Docker Hub (the project's dev
# and CI machines): Debian's docker.io and docker-compose, base images made locally (a Debian
# bookworm root file system with this host's node and nats-server), and the two images that cannot
# be made here (the OpenTelemetry Collector, Jaeger) replaced by docker-compose.lab.yml.
#
#   sudo deploy/lab/run.sh          # from the repository root; about 2 minutes once the base exists
#   sudo IPISCOPE_LAB_CORES=32 IPISCOPE_LAB_SCENARIO=host-ipi-2019 IPISCOPE_LAB_DURATION=240s \
#        IPISCOPE_LAB_EXPECT=hang deploy/lab/run.sh     # the 2019 hang on 32 core containers
#
# The engine runs in a network namespace the script creates (ipiscope-lab), so its bridges and
# the containers' addresses never appear on the host's interfaces; only the image build uses the
# host's network (npm ci in the build stage). It checks what a user of the stack would: the
# controller adopts the four core containers and prints an ok verdict, the analyzer judges every
# IPI from the spans the cores sent through the collector's place, and writes results/report.html.
# Chaos as deploy/README.md describes it: `ipiscope faults` from the host changes the running
# stack's bus rules through nats-1's published port, and `docker pause` stops a core container for a
# second; the run must still end ok, with the injected faults counted.
# Everything it starts is stopped at the end. Bounded: each wait has a deadline.
set -euo pipefail

LAB=${IPISCOPE_LAB:-/var/tmp/ipiscope-lab}
NS=ipiscope-lab
SOCK="$LAB/docker.sock"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export DOCKER_HOST="unix://$SOCK"
export NODE_IMAGE=ipiscope-lab/node:20 NATS_IMAGE=ipiscope-lab/nats:local
export IPISCOPE_UID=${IPISCOPE_UID:-$(id -u)} IPISCOPE_GID=${IPISCOPE_GID:-$(id -g)}
CORES=${IPISCOPE_LAB_CORES:-4}
EXPECT=${IPISCOPE_LAB_EXPECT:-ok}
export IPISCOPE_SCENARIO=${IPISCOPE_LAB_SCENARIO:-pingpong} IPISCOPE_DURATION=${IPISCOPE_LAB_DURATION:-30s}
COMPOSE=(docker-compose -p ipiscope-lab -f "$REPO/deploy/docker-compose.yml" -f "$REPO/deploy/lab/docker-compose.lab.yml")
if [ "$CORES" -gt 4 ]; then
  mkdir -p "$LAB"
  node "$REPO/deploy/cores.mjs" "$CORES" >"$LAB/cores.yml"
  COMPOSE+=(-f "$LAB/cores.yml")
fi

say() { printf 'lab: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (an engine of its own, a network namespace)"
for b in dockerd docker docker-compose debootstrap nsenter ip node nats-server; do
  command -v "$b" >/dev/null || die "missing $b: apt-get install docker.io docker-compose debootstrap nats-server"
done
mkdir -p "$LAB"

stop_engine() {
  local pid
  pid=$(cat "$LAB/dockerd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$LAB/dockerd.pid"
}
cleanup() {
  "${COMPOSE[@]}" down -t 5 >/dev/null 2>&1 || true
  stop_engine
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT

# $1: "host" (image builds reach the npm registry; no bridge, no iptables) or "lab" (inside $NS).
start_engine() {
  stop_engine
  local args=(-H "$DOCKER_HOST" --data-root "$LAB/data" --exec-root "$LAB/exec" --pidfile "$LAB/dockerd.pid")
  if [ "$1" = host ]; then
    dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false --ip-masq=false >"$LAB/dockerd-host.log" 2>&1 &
  else
    ip netns add "$NS" 2>/dev/null || true
    ip -n "$NS" link set lo up
    # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups dockerd needs.
    nsenter --net="/var/run/netns/$NS" dockerd "${args[@]}" >"$LAB/dockerd-lab.log" 2>&1 &
  fi
  for _ in $(seq 1 100); do docker version >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "dockerd did not answer (see $LAB/dockerd-$1.log)"
}

base_images() {
  if [ ! -x "$LAB/rootfs/bin/sh" ]; then
    say "debootstrap bookworm (once)"
    debootstrap --variant=minbase bookworm "$LAB/rootfs" http://deb.debian.org/debian >"$LAB/debootstrap.log" 2>&1
  fi
  local nodefs="$LAB/rootfs-node" natsfs="$LAB/rootfs-nats" npmdir
  npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  rm -rf "$nodefs" "$natsfs"
  cp -a "$LAB/rootfs" "$nodefs"
  cp "$(readlink -f "$(command -v node)")" "$nodefs/usr/local/bin/node"
  mkdir -p "$nodefs/usr/local/lib/node_modules" "$nodefs/etc/ssl/certs"
  cp -a "$npmdir" "$nodefs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$nodefs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$nodefs/usr/local/bin/npx"
  # The host's trust store: npm ci in the build goes through whatever proxy the host trusts.
  cp /etc/ssl/certs/ca-certificates.crt "$nodefs/etc/ssl/certs/"
  chroot "$nodefs" sh -c 'getent passwd node >/dev/null || { groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/sh node; }'
  tar -C "$nodefs" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' -c 'CMD ["node"]' - "$NODE_IMAGE" >/dev/null
  cp -a "$LAB/rootfs" "$natsfs"
  cp "$(readlink -f "$(command -v nats-server)")" "$natsfs/usr/local/bin/nats-server"
  tar -C "$natsfs" -c . | docker import -c 'ENTRYPOINT ["nats-server"]' -c 'EXPOSE 4222 6222 8222' - "$NATS_IMAGE" >/dev/null
  rm -rf "$nodefs" "$natsfs"
  say "base images: $NODE_IMAGE (node $(node --version)), $NATS_IMAGE ($(nats-server --version))"
}

start_engine host
base_images
say "docker build -f deploy/Dockerfile"
(cd "$REPO" && DOCKER_BUILDKIT=0 docker build --network host -f deploy/Dockerfile --build-arg NODE_IMAGE="$NODE_IMAGE" -t ipiscope:local . >"$LAB/build.log" 2>&1) ||
  die "the image did not build (see $LAB/build.log)"

start_engine lab
mkdir -p "$REPO/deploy/results"
chown "$IPISCOPE_UID:$IPISCOPE_GID" "$REPO/deploy/results"
rm -f "$REPO/deploy/results/report.html"
say "docker-compose up (the stack of deploy/docker-compose.yml, collector and Jaeger stood in for)"
"${COMPOSE[@]}" up -d --no-build >"$LAB/up.log" 2>&1 || die "compose up failed (see $LAB/up.log)"
for _ in $(seq 1 60); do
  "${COMPOSE[@]}" logs --no-color controller 2>/dev/null | grep -q 'run compose on NATS' && break
  sleep 1
done
if [ "$EXPECT" = ok ]; then
  printf 'faults:\n  - { type: duplicate, probability: 0.02 }\n  - { type: latency, class: memory, latency_ms: 1, jitter_ms: 1, distribution: uniform }\n' >"$LAB/plan.yaml"
  nsenter --net="/var/run/netns/$NS" node "$REPO/bin/ipiscope.js" faults compose "$LAB/plan.yaml" --nats nats://127.0.0.1:4222 --json >"$LAB/faults.json" 2>"$LAB/faults.err" ||
    { cat "$LAB/faults.err" >&2; die "ipiscope faults could not reach the stack"; }
  docker pause ipiscope-lab_core-2_1 >/dev/null && sleep 1 && docker unpause ipiscope-lab_core-2_1 >/dev/null
fi
for _ in $(seq 1 600); do
  "${COMPOSE[@]}" ps controller 2>/dev/null | grep -q Exit && break
  sleep 2
done
verdict=$("${COMPOSE[@]}" logs --no-color controller | sed -n 's/^[^|]*| //p' | grep '^{' | tail -1)
[ -n "$verdict" ] || { "${COMPOSE[@]}" logs --no-color controller | tail -20 >&2; die "the controller printed no verdict"; }
"${COMPOSE[@]}" stop -t 30 analyzer >/dev/null 2>&1
summary=$("${COMPOSE[@]}" logs --no-color analyzer | sed -n 's/^[^|]*| //p' | grep -E 'IPIs from .* spans' | tail -1)
cores_exit=$("${COMPOSE[@]}" ps | grep -cE 'core-[0-9]+_.*Exit 0' || true)
say "controller: $(node -e 'const v=JSON.parse(process.argv[1]);console.log(`verdict ${v.verdict}, ${v.ipis_handled} IPIs handled in ${v.emulated_seconds} emulated s, ${v.processes} core containers adopted; ignored ${JSON.stringify(v.ignored)}; live plan updates ${v.fault_plan_updates.length}, faults injected ${JSON.stringify(v.faults_injected)}, bus delivered ${v.bus.delivered} of ${v.bus.sent}; core containers at most ${v.core_memory.rss_mb_max} MB resident`)' "$verdict")"
say "analyzer:   $summary"
say "cores exited 0: $cores_exit of $CORES; report: $(ls -l "$REPO/deploy/results/report.html" 2>/dev/null | awk '{print $5 " bytes"}')"
node -e 'const v=JSON.parse(process.argv[1]); process.exit(v.verdict === process.argv[2] && v.processes === Number(process.argv[3]) ? 0 : 1)' "$verdict" "$EXPECT" "$CORES" ||
  die "verdict not $EXPECT"
if [ "$EXPECT" = ok ]; then
  node -e 'const v=JSON.parse(process.argv[1]); process.exit(v.fault_plan_updates.length === 1 && (v.faults_injected.duplicate ?? 0) > 0 && v.bus.delivered === v.bus.sent ? 0 : 1)' "$verdict" ||
    die "the live fault plan did not show in the verdict"
  [[ "$summary" =~ ([0-9]+)\ IPIs.*\ 0\ late,\ 0\ ignored ]] || die "the analyzer did not judge every IPI handled"
else
  # The hang: the analyzer must find the ignored IPI in the spans and explain it.
  [[ "$summary" =~ \ [1-9][0-9]*\ ignored ]] || die "the analyzer found no ignored IPI"
  "${COMPOSE[@]}" logs --no-color analyzer | sed -n 's/^[^|]*| //p' | sed -n '/^IGNORED IPI/,/^LATE IPI\|^$/p' | head -40 >&2
fi
[ "$cores_exit" = "$CORES" ] || die "not every core container ended with the run"
[ -s "$REPO/deploy/results/report.html" ] || die "no report"
say "ok"
