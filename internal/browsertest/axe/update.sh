#!/bin/sh
# update.sh vendors axe-core's browser bundle (axe.min.js) and its licence,
# at the version pinned below, into ./axe-core/, and writes SHA256SUMS for
# them. The browser tests inject axe.min.js into the pages they check
# (internal/browsertest.Axe); nothing is fetched at test time.
#
#   ./update.sh                    fetch the pinned version with `npm pack`,
#                                  check the tarball's sha512, rewrite the
#                                  files and SHA256SUMS
#   ./update.sh --verify           offline: the vendored files match SHA256SUMS
#                                  and nothing else is vendored (CI runs this)
#   ./update.sh --verify-upstream  fetch again and check that the vendored
#                                  files are exactly those of the pinned tarball
#
# To move to another version: change VERSION and TARBALL_SHA512 (the hex of
# `npm view axe-core@X dist.integrity`, base64-decoded), run ./update.sh,
# run the accessibility tests (a new axe may find new violations), and
# commit.
set -eu

VERSION=4.14.1
TARBALL_SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5

# SUBSET lists the vendored files, relative to the package's root.
SUBSET="
LICENSE
axe.min.js
"

here=$(cd "$(dirname "$0")" && pwd)
dest=axe-core

# extract fetches the pinned tarball into $1 and copies the subset to
# $1/out/axe-core, with a VERSION file.
extract() {
	work=$1
	(cd "$work" && npm pack --silent "axe-core@$VERSION" >/dev/null)
	tarball="$work/axe-core-$VERSION.tgz"
	got=$(sha512sum "$tarball" | cut -d' ' -f1)
	if [ "$got" != "$TARBALL_SHA512" ]; then
		echo "update.sh: sha512 of axe-core-$VERSION.tgz is $got, want $TARBALL_SHA512" >&2
		exit 1
	fi
	tar -xzf "$tarball" -C "$work"
	for f in $SUBSET; do
		to="$work/out/$dest/$f"
		mkdir -p "$(dirname "$to")"
		cp "$work/package/$f" "$to"
		chmod 0644 "$to"
	done
	echo "$VERSION" >"$work/out/$dest/VERSION"
}

# sums prints the SHA256SUMS of the tree under the current directory.
sums() {
	find "$dest" -type f | LC_ALL=C sort | xargs sha256sum
}

case "${1:-}" in
--verify)
	cd "$here"
	sha256sum --quiet -c SHA256SUMS
	listed=$(cut -d' ' -f3 SHA256SUMS | LC_ALL=C sort)
	present=$(find "$dest" -type f | LC_ALL=C sort)
	if [ "$listed" != "$present" ]; then
		echo "update.sh: files under $dest differ from SHA256SUMS" >&2
		exit 1
	fi
	if [ "$(cat "$dest/VERSION")" != "$VERSION" ]; then
		echo "update.sh: $dest/VERSION is $(cat "$dest/VERSION"), the script pins $VERSION" >&2
		exit 1
	fi
	echo "axe-core $VERSION: vendored files match SHA256SUMS"
	;;
--verify-upstream)
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	extract "$work"
	(cd "$work/out" && sums) >"$work/SHA256SUMS"
	if ! cmp -s "$work/SHA256SUMS" "$here/SHA256SUMS"; then
		diff "$work/SHA256SUMS" "$here/SHA256SUMS" >&2 || true
		echo "update.sh: vendored files differ from axe-core@$VERSION" >&2
		exit 1
	fi
	cd "$here" && sha256sum --quiet -c SHA256SUMS
	echo "axe-core $VERSION: vendored files match the npm package"
	;;
"")
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	extract "$work"
	rm -rf "${here:?}/$dest"
	cp -R "$work/out/$dest" "$here/$dest"
	(cd "$here" && sums) >"$here/SHA256SUMS"
	echo "axe-core $VERSION vendored into $here/$dest"
	;;
*)
	echo "usage: $0 [--verify | --verify-upstream]" >&2
	exit 2
	;;
esac
