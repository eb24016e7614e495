#!/usr/bin/env bash
# kube-apiserver.sh: the real kube-apiserver, kubectl and etcd for wif's
# end-to-end tests. See docs/kube-apiserver.md.
#
#   scripts/kube-apiserver.sh [build]
#       Build kube-apiserver and kubectl from tools/kube-apiserver (only when
#       the cached binaries are missing or the tools module changed), make
#       sure etcd is installed (Debian's etcd-server), and print
#           KUBE_APISERVER=<path>
#           KUBECTL=<path>
#           ETCD=<path>
#       Use: eval "$(scripts/kube-apiserver.sh build)"
#
#   scripts/kube-apiserver.sh start <dir> [issuer-url [signing-key [public-key]]] [-- extra kube-apiserver flags]
#       Start etcd and kube-apiserver on free loopback ports with all state
#       under <dir>, wait for /readyz, and print
#           KUBECONFIG=<dir>/kubeconfig  KUBE_SERVER=https://127.0.0.1:<port>
#           KUBE_TOKEN=<admin bearer token>  KUBE_CA=<serving CA file>
#       (also written to <dir>/env). Service-account keys are generated
#       into <dir> when not given (a signing key alone is also accepted as
#       the public key); issuer defaults to https://127.0.0.1:<port>. Only
#       "default/default" exists as a service account: no controller-manager
#       or kubelet runs, so pods stay Pending.
#
#   scripts/kube-apiserver.sh stop <dir>
#       Stop the etcd and kube-apiserver started by "start <dir>".
#
# Environment: WIF_TOOLS_CACHE (default $HOME/.cache/wif) holds the binaries.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module="$repo/tools/kube-apiserver"
cache="${WIF_TOOLS_CACHE:-$HOME/.cache/wif}"

log() { printf 'kube-apiserver.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# stamp prints a hash of everything the build depends on: the tools module's
# go.mod, go.sum and Go files, and the Go toolchain version.
stamp() {
	(
		cd "$module"
		go env GOVERSION
		find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum
	) | sha256sum | cut -d' ' -f1
}

build() {
	local want have="" version ldflags tmp
	mkdir -p "$cache"
	want=$(stamp)
	[[ -f "$cache/kube-apiserver.stamp" ]] && have=$(<"$cache/kube-apiserver.stamp")
	if [[ "$want" != "$have" || ! -x "$cache/kube-apiserver" || ! -x "$cache/kubectl" ]]; then
		version=$(cd "$module" && GOWORK=off go list -m -f '{{.Version}}' k8s.io/kubernetes)
		[[ "$version" =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "unexpected k8s.io/kubernetes version $version"
		ldflags="-s -w"
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=${BASH_REMATCH[1]} -X $pkg.gitMinor=${BASH_REMATCH[2]}"
		done
		log "building kube-apiserver and kubectl $version into $cache (several minutes when not cached)"
		tmp=$(mktemp -d "$cache/build.XXXXXX")
		build_tmp=$tmp
		trap 'rm -rf "$build_tmp"' EXIT
		(cd "$module" && GOWORK=off nice -n 10 go build -ldflags "$ldflags" -o "$tmp/" . ./cmd/kubectl)
		mv -f "$tmp/kube-apiserver" "$cache/kube-apiserver"
		mv -f "$tmp/kubectl" "$cache/kubectl"
		echo "$want" >"$cache/kube-apiserver.stamp"
		rm -rf "$tmp"
	fi
	if ! command -v etcd >/dev/null; then
		if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
			die "etcd not found: install Debian's etcd-server"
		fi
		log "installing etcd-server"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2
	fi
	echo "KUBE_APISERVER=$cache/kube-apiserver"
	echo "KUBECTL=$cache/kubectl"
	echo "ETCD=$(command -v etcd)"
}

# freeport prints a TCP port on 127.0.0.1 that nothing listens on now.
freeport() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

start() {
	local dir=${1:?usage: start <dir> [issuer-url [signing-key [public-key]]] [-- flags]}
	shift
	local positional=() extra=()
	while (($#)); do
		if [[ $1 == -- ]]; then
			shift
			extra=("$@")
			break
		fi
		positional+=("$1")
		shift
	done
	local tools
	tools=$(build)
	eval "$tools"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[[ -f "$dir/etcd.pid" || -f "$dir/kube-apiserver.pid" ]] && die "$dir already in use: stop it first"

	local etcd_port peer_port port
	etcd_port=$(freeport)
	peer_port=$(freeport)
	port=$(freeport)
	local issuer=${positional[0]:-https://127.0.0.1:$port}
	local signing_key=${positional[1]:-$dir/sa.key}
	local public_key=${positional[2]:-$dir/sa.pub}
	if [[ ${#positional[@]} -lt 2 && ! -f "$signing_key" ]]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$signing_key" 2>/dev/null
		openssl pkey -in "$signing_key" -pubout -out "$public_key"
	fi
	[[ ${#positional[@]} -eq 2 ]] && public_key=$signing_key

	local token
	token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	echo "$token,wif-admin,wif-admin,system:masters" >"$dir/tokens.csv"
	chmod 600 "$dir/tokens.csv"

	"$ETCD" --name wif \
		--data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" \
		--advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "wif=http://127.0.0.1:$peer_port" \
		--logger zap --log-level warn \
		>"$dir/etcd.log" 2>&1 &
	echo $! >"$dir/etcd.pid"

	"$KUBE_APISERVER" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 \
		--advertise-address 127.0.0.1 \
		--endpoint-reconciler-type none \
		--secure-port "$port" \
		--cert-dir "$dir/certs" \
		--token-auth-file "$dir/tokens.csv" \
		--authorization-mode RBAC \
		--service-cluster-ip-range 10.0.0.0/24 \
		--service-account-issuer "$issuer" \
		--service-account-signing-key-file "$signing_key" \
		--service-account-key-file "$public_key" \
		--api-audiences "$issuer" \
		"${extra[@]}" \
		>"$dir/kube-apiserver.log" 2>&1 &
	echo $! >"$dir/kube-apiserver.pid"

	local server="https://127.0.0.1:$port" ready=""
	for _ in $(seq 240); do
		if curl -fsS --max-time 2 -k -H "Authorization: Bearer $token" "$server/readyz" >/dev/null 2>&1; then
			ready=1
			break
		fi
		kill -0 "$(<"$dir/kube-apiserver.pid")" 2>/dev/null || break
		kill -0 "$(<"$dir/etcd.pid")" 2>/dev/null || break
		sleep 0.5
	done
	if [[ -z $ready ]]; then
		tail -n 20 "$dir/etcd.log" "$dir/kube-apiserver.log" >&2 || true
		stop "$dir"
		die "kube-apiserver did not become ready"
	fi

	local ca="$dir/certs/apiserver.crt"
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wif
  cluster:
    server: $server
    certificate-authority: $ca
users:
- name: wif-admin
  user:
    token: $token
contexts:
- name: wif
  context:
    cluster: wif
    user: wif-admin
    namespace: default
current-context: wif
EOF
	chmod 600 "$dir/kubeconfig"
	# No kube-controller-manager runs, so create the "default" service account
	# it would create, letting pods without serviceAccountName be admitted.
	"$KUBECTL" --kubeconfig "$dir/kubeconfig" create serviceaccount default --namespace default >/dev/null
	{
		echo "KUBECONFIG=$dir/kubeconfig"
		echo "KUBE_SERVER=$server"
		echo "KUBE_TOKEN=$token"
		echo "KUBE_CA=$ca"
		echo "KUBECTL=$KUBECTL"
	} | tee "$dir/env"
}

stop() {
	local dir=${1:?usage: stop <dir>} name pid
	for name in kube-apiserver etcd; do
		[[ -f "$dir/$name.pid" ]] || continue
		pid=$(<"$dir/$name.pid")
		if kill "$pid" 2>/dev/null; then
			for _ in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.2
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$dir/$name.pid"
	done
}

case "${1:-build}" in
build) build ;;
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) die "usage: $0 [build | start <dir> [issuer-url [signing-key [public-key]]] [-- flags] | stop <dir>]" ;;
esac
