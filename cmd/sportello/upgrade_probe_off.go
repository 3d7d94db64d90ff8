//go:build !sportello_upgrade_probe

package main

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/cluster"
)

// probeRegister and probeRoutes are the product's empty hooks; the test
// build with -tags sportello_upgrade_probe (upgrade_probe.go) fills them
// with a command type that only it knows.
func probeRegister(*cluster.Registry) {}

func (a *adminServer) probeRoutes(*http.ServeMux) {}
