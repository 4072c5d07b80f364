#!/bin/sh
# SPDX-License-Identifier: MIT
# Install test: `meson install --destdir` into a temporary folder, then check every file a package ships.
#
# usage: install-test.sh BUILDDIR KIND:PATH...
#   PATH is an absolute install path (DESTDIR is prepended); KIND says what to check:
#   exe   an executable file          exe-V  the same, and `PATH -V` prints a version
#   man   a non-empty troff page      unit   a systemd unit with no @VAR@ left and its ExecStart= installed
#   file  a non-empty regular file
# Environment: MESON, the meson command (default: meson). Exit status 0, 1 on a failed check, 77 to skip.
set -u

builddir=$1
shift
meson=${MESON:-meson}
command -v "$meson" >/dev/null 2>&1 || { echo "SKIP: no meson command to run '$meson install'"; exit 77; }

work=$(mktemp -d /tmp/superd-install.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
dest=$work/root
failed=0

fail() {
        echo "FAIL: $*"
        failed=1
}

if ! "$meson" install -C "$builddir" --no-rebuild --destdir "$dest" >"$work/install.log" 2>&1; then
        cat "$work/install.log"
        echo "FAIL: meson install --destdir did not succeed"
        exit 1
fi

for spec in "$@"; do
        kind=${spec%%:*}
        path=${spec#*:}
        file=$dest$path
        if [ ! -f "$file" ]; then
                fail "$path is not installed ($kind)"
                continue
        fi
        case $kind in
        exe | exe-V)
                [ -x "$file" ] || fail "$path is not executable"
                if [ "$kind" = exe-V ]; then
                        "$file" -V >"$work/version" 2>&1 && grep -q '[0-9]' "$work/version" ||
                                fail "$path -V: $(cat "$work/version")"
                fi
                ;;
        man)
                [ -s "$file" ] || fail "$path is empty"
                grep -q '^\.TH ' "$file" || fail "$path is not a troff man page (no .TH)"
                ;;
        unit)
                [ -s "$file" ] || fail "$path is empty"
                ! grep -n '@[A-Z_]*@' "$file" || fail "$path still has @VARIABLES@"
                exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$file")
                [ -n "$exec_start" ] || fail "$path has no ExecStart="
                [ -z "$exec_start" ] || [ -x "$dest$exec_start" ] || fail "$path: ExecStart=$exec_start is not installed"
                ;;
        file)
                [ -s "$file" ] || fail "$path is empty"
                ;;
        *)
                fail "unknown kind '$kind' in $spec"
                ;;
        esac
        [ "$failed" = 1 ] || echo "ok: $path"
done

if [ "$failed" = 1 ]; then
        echo "--- installed files ---"
        (cd "$dest" && find . -type f | sort)
        exit 1
fi
exit 0
