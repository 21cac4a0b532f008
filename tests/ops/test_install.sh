#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR PREFIX - install into a DESTDIR and
# check the tree: binaries that run, libkr with its soname, header and
# pkg-config file (a program built against the installed tree), man pages
# without groff warnings and that cover every option, sample
# configurations equal to what the daemons print, and systemd units that
# `systemd-analyze verify` accepts.
set -uo pipefail
build=$1 src=$2 prefix=$3
tmp=$(mktemp -d /tmp/kr-it-install.XXXXXX)
fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

DESTDIR=$tmp/root cmake --install "$build" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; bad "cmake --install"; }
root=$tmp/root$prefix
for f in sbin/krbroker sbin/krnode sbin/krspool bin/krctl include/kr.h \
  lib/pkgconfig/libkr.pc share/man/man1/krctl.1 share/man/man8/krbroker.8 \
  share/man/man8/krnode.8 share/man/man5/krbroker.conf.5 \
  share/man/man5/krnode.conf.5 share/doc/kansrijk/examples/krbroker.ini \
  share/doc/kansrijk/examples/krnode.ini \
  share/doc/kansrijk/examples/referral.json \
  share/doc/kansrijk/examples/routes.ini share/doc/kansrijk/examples/adapter.c \
  lib/systemd/system/krbroker.service lib/systemd/system/krnode@.service \
  lib/sysusers.d/kansrijk.conf sbin/krfhir share/man/man8/krfhir.8 \
  share/man/man5/krfhir.conf.5 share/doc/kansrijk/examples/krfhir.ini \
  share/doc/kansrijk/examples/fhir/referral-bundle.json \
  lib/systemd/system/krfhir@.service share/man/man8/krspool.8 \
  share/man/man5/krspool.conf.5 share/doc/kansrijk/examples/krspool.ini \
  lib/systemd/system/krspool@.service; do
  check "installed $f" test -s "$root/$f"
done
# libkr: the real file, the soname link and the development link.
lib=$(ls "$root"/lib/libkr.so.*.*.* 2>/dev/null | head -1)
check "libkr.so.X.Y.Z installed" test -n "$lib"
soname=$(objdump -p "$lib" 2>/dev/null | awk '/SONAME/ {print $2}')
check "libkr soname $soname is a link to it" test -L "$root/lib/$soname"
check "libkr.so development link" test -L "$root/lib/libkr.so"

# The installed binaries run (and do not need the build tree).
for b in sbin/krbroker sbin/krnode sbin/krspool sbin/krfhir bin/krctl; do
  out=$("$root/$b" --help 2>&1); rc=$?
  check "$b --help exits 0" test $rc -eq 0
  check "$b --help names its exit status" grep -qi "exit status" <<<"$out"
done

# A program against the installed header and library, through pkg-config.
cat >"$tmp/prog.c" <<'C'
#include <kr.h>
#include <stdio.h>
int main(void) { printf("%s\n", kr_strerror(KR_EUNAVAIL)); return 0; }
C
flags=$(PKG_CONFIG_PATH=$root/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$tmp/root \
  pkg-config --cflags --libs libkr 2>&1)
check "pkg-config libkr: $flags" grep -q -- "-lkr" <<<"$flags"
# A sanitizer build's libkr needs its runtime in the program too.
san=""
objdump -p "$lib" 2>/dev/null | grep -q 'NEEDED.*libasan' && san="-fsanitize=address,undefined"
if cc $san "$tmp/prog.c" -o "$tmp/prog" $flags >"$tmp/cc.log" 2>&1; then
  out=$(LD_LIBRARY_PATH=$root/lib "$tmp/prog")
  check "a program built against the installed libkr runs ($out)" test -n "$out"
else
  cat "$tmp/cc.log"; bad "cc against the installed libkr"
fi

# Man pages: no warnings from groff at its strictest, and man renders them.
for page in "$root"/share/man/man*/*; do
  warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  check "groff -ww: no warnings in $(basename "$page")" test -z "$warn"
  [ -n "$warn" ] && echo "$warn"
  if command -v man >/dev/null; then
    check "man -l $(basename "$page")" bash -c "MANWIDTH=80 man -l '$page' >/dev/null 2>&1"
  fi
done

# The samples are what the daemons print, and every option is documented.
for d in krbroker krnode krfhir krspool; do
  "$root/sbin/$d" --sample-config >"$tmp/$d.ini"
  check "etc/$d.ini equals '$d --sample-config'" \
    cmp -s "$tmp/$d.ini" "$root/share/doc/kansrijk/examples/$d.ini"
  [ -f "$src/etc/$d.ini" ] && check "source etc/$d.ini is current" \
    cmp -s "$tmp/$d.ini" "$src/etc/$d.ini"
  for key in $(grep -oE '^;?[a-z_]+ =' "$tmp/$d.ini" | tr -d ';= '); do
    grep -q "^\.B $key\$" "$root/share/man/man5/$d.conf.5" ||
      bad "$d.conf(5) documents $key"
  done
  ok "$d.conf(5) documents every option of the sample"
done

# systemd units: verified with their paths moved into the staged tree, and
# MANPATH there, so that Documentation= is checked as well.
if ! command -v systemd-analyze >/dev/null; then
  echo "skip - systemd-analyze is not installed (package systemd): units not verified"
else
  mkdir -p "$tmp/units"
  for u in krbroker.service krnode@.service krfhir@.service krspool@.service; do
    name=$u
    [ "$u" = krnode@.service ] && name=krnode@test.service
    [ "$u" = krfhir@.service ] && name=krfhir@test.service
    [ "$u" = krspool@.service ] && name=krspool@test.service
    sed "s|$prefix/sbin/|$root/sbin/|g" "$root/lib/systemd/system/$u" >"$tmp/units/$name"
    out=$(MANPATH=$root/share/man systemd-analyze verify "$tmp/units/$name" 2>&1)
    rc=$?
    check "systemd-analyze verify $name" test $rc -eq 0 -a -z "$out"
    [ -n "$out" ] && echo "$out"
    score=$(systemd-analyze security --offline=true "$tmp/units/$name" 2>/dev/null |
      grep -oE 'exposure level for [^:]+: [0-9.]+' | grep -oE '[0-9.]+$')
    if [ -n "$score" ]; then
      check "systemd-analyze security $name: $score (at most 2.0)" \
        awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
    fi
  done
fi

if [ $fails -eq 0 ]; then
  rm -rf "$tmp"
  echo "test_install: all passed"
  exit 0
fi
echo "test_install: $fails failed; kept $tmp"
exit 1
