package tenant_test

import (
	"context"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestRegistryBeforeSchemaV3: a node of this version serving on an older
// cluster's schema (tenant version 2: no disabled columns, no tombstones;
// a rolling upgrade under an older leader) still creates Comuni as an
// older member does and resolves their hosts.
func TestRegistryBeforeSchemaV3(t *testing.T) {
	n := clustertest.Node(t, tenant.Register, clustertest.HandleSQL)
	ctx := context.Background()
	clustertest.RunSQL(t, n, `DROP TABLE tenant_tombstones;
		ALTER TABLE tenants DROP COLUMN disabled_at; ALTER TABLE tenants DROP COLUMN disabled_reason`)
	reg := tenant.NewRegistry(n, n.DB(), "sportello.test")
	if _, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Domains: []string{"servizi.comune.bari.it"}}); err != nil {
		t.Fatalf("create on the old schema: %v", err)
	}
	for _, host := range []string{"bari.sportello.test", "servizi.comune.bari.it"} {
		got, err := reg.Resolve(ctx, host)
		if err != nil || got.ID != "bari" || got.IsDisabled() {
			t.Errorf("Resolve(%s) = %+v, %v; want bari, enabled", host, got, err)
		}
	}
}
