# Release shortcuts. Tests and everything else: see README.md.
#
#   make deb                      both architectures, version 0.0.0~dev, into dist/
#   make deb VERSION=1.2.0        a release
#   make deb ARCH=amd64           one architecture
#
# arm64 on an amd64 machine needs the C cross compiler (Debian package
# gcc-aarch64-linux-gnu): SQLite is compiled with cgo.

VERSION ?= 0.0.0~dev
ARCH ?= amd64,arm64
OUT ?= dist

.PHONY: deb
deb:
	go run ./cmd/mkdeb -version '$(VERSION)' -arch '$(ARCH)' -out '$(OUT)'
