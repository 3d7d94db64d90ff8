#!/bin/sh
# update.sh vendors the subset of the npm package bootstrap-italia that the
# pages of Sportello use, at the version pinned below, into
# ./bootstrap-italia/, and writes SHA256SUMS for it.
#
#   ./update.sh                    fetch the pinned version with `npm pack`,
#                                  check the tarball's sha512, rewrite the subset
#                                  and SHA256SUMS
#   ./update.sh --verify           offline: the vendored files match SHA256SUMS
#                                  and nothing else is vendored (CI runs this)
#   ./update.sh --verify-upstream  fetch again and check that the vendored
#                                  files are exactly those of the pinned tarball
#
# To move to another version: change VERSION and TARBALL_SHA512 (the hex of
# `npm view bootstrap-italia@X dist.integrity`, base64-decoded), run
# ./update.sh, check the fonts' names in static/css/fonts.css, and commit.
set -eu

VERSION=2.9.2
TARBALL_SHA512=3cf9cde57757921e38207aa8b5cb6b788670df118733931c8adbb416cec76a7232583b55855d863d6e1fd76b0ab4b82c8a0ff4f7bf7a48392c2d8aa1e70f9d45

# SUBSET lists the vendored files, relative to the package's root.
SUBSET="
LICENSE
dist/css/bootstrap-italia.min.css
dist/js/bootstrap-italia.bundle.min.js
dist/svg/sprites.svg
dist/fonts/Titillium_Web/OFL.txt
dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-300.woff2
dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.woff2
dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.woff2
dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-700.woff2
"

here=$(cd "$(dirname "$0")" && pwd)
dest=bootstrap-italia

# extract fetches the pinned tarball into $1 and copies the subset to
# $1/out/bootstrap-italia, with a VERSION file.
extract() {
	work=$1
	(cd "$work" && npm pack --silent "bootstrap-italia@$VERSION" >/dev/null)
	tarball="$work/bootstrap-italia-$VERSION.tgz"
	got=$(sha512sum "$tarball" | cut -d' ' -f1)
	if [ "$got" != "$TARBALL_SHA512" ]; then
		echo "update.sh: sha512 of bootstrap-italia-$VERSION.tgz is $got, want $TARBALL_SHA512" >&2
		exit 1
	fi
	tar -xzf "$tarball" -C "$work"
	for f in $SUBSET; do
		to="$work/out/$dest/${f#dist/}"
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
	echo "bootstrap-italia $(cat "$dest/VERSION"): vendored files match SHA256SUMS"
	;;
--verify-upstream)
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	extract "$work"
	(cd "$work/out" && sums) >"$work/SHA256SUMS"
	if ! cmp -s "$work/SHA256SUMS" "$here/SHA256SUMS"; then
		diff "$work/SHA256SUMS" "$here/SHA256SUMS" >&2 || true
		echo "update.sh: vendored files differ from bootstrap-italia@$VERSION" >&2
		exit 1
	fi
	cd "$here" && sha256sum --quiet -c SHA256SUMS
	echo "bootstrap-italia $VERSION: vendored files match the npm package"
	;;
"")
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	extract "$work"
	rm -rf "${here:?}/$dest"
	cp -R "$work/out/$dest" "$here/$dest"
	(cd "$here" && sums) >"$here/SHA256SUMS"
	echo "bootstrap-italia $VERSION vendored into $here/$dest"
	;;
*)
	echo "usage: $0 [--verify | --verify-upstream]" >&2
	exit 2
	;;
esac
