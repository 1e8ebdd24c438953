#!/usr/bin/env bash
# Builds the images the tests need, with `docker import` from a busybox-static rootfs
# (no registry is reachable). Idempotent: an image that exists is left alone.
#   cube-test/http    serves HTTP on :80: /health 200, /healthfail 500, anything else 200;
#                     logs one line per request; exits 0 on SIGTERM
#   cube-test/fail    prints a line and exits at once with code 3
#   cube-test/sleep   runs until stopped; exits 0 on SIGTERM
set -euo pipefail
say() { printf 'images: %s\n' "$*" >&2; }

images=(cube-test/http cube-test/fail cube-test/sleep)
missing=()
for image in "${images[@]}"; do
  docker image inspect "$image:latest" >/dev/null 2>&1 || missing+=("$image")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "test images present: ${images[*]}"
  exit 0
fi
# The images hold nothing but a static busybox (Debian's busybox-static).
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing busybox-static with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
  else
    say "a static busybox is needed to build ${missing[*]}: apt-get install busybox-static (as root)"
    exit 1
  fi
fi
busybox=/bin/busybox

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin"
cp "$busybox" "$root/bin/busybox"
for applet in sh nc tr sleep echo cat true false wait; do ln -sf busybox "$root/bin/$applet"; done

cat >"$root/bin/serve" <<'SH'
#!/bin/sh
# One HTTP exchange per connection (run by `nc -ll -e`).
read -r method path proto
path=$(echo "$path" | tr -d '\r')
while read -r line; do
  line=$(echo "$line" | tr -d '\r')
  [ -z "$line" ] && break
done
case "$path" in
  /health) status="200 OK"; body="ok" ;;
  /healthfail) status="500 Internal Server Error"; body="unhealthy" ;;
  *) status="200 OK"; body="hello from cube" ;;
esac
echo "$method $path -> ${status%% *}" >&2
printf 'HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' \
  "$status" "$(( ${#body} + 1 ))" "$body"
SH
cat >"$root/bin/http" <<'SH'
#!/bin/sh
trap 'echo "stopping"; exit 0' TERM INT
echo "listening on :80"
nc -ll -p 80 -e /bin/serve &
wait
SH
cat >"$root/bin/forever" <<'SH'
#!/bin/sh
trap 'echo "stopping"; exit 0' TERM INT
echo "running until stopped"
while :; do sleep 1 & wait; done
SH
cat >"$root/bin/fail" <<'SH'
#!/bin/sh
echo "failing on purpose" >&2
exit 3
SH
chmod +x "$root/bin/serve" "$root/bin/http" "$root/bin/forever" "$root/bin/fail"

build() {
  local image=$1; shift
  tar -C "$root" -c . | docker import "$@" - "$image:latest" >/dev/null
  say "built $image"
}
for image in "${missing[@]}"; do
  case "$image" in
    cube-test/http) build "$image" -c 'CMD ["/bin/http"]' -c 'EXPOSE 80' ;;
    cube-test/fail) build "$image" -c 'CMD ["/bin/fail"]' ;;
    cube-test/sleep) build "$image" -c 'CMD ["/bin/forever"]' ;;
  esac
done
