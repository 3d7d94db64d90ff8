package knowledge

import (
	"context"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Rebuild builds the Comune's catalogue without the cache, for the
// benchmark.
func Rebuild(ctx context.Context, s *Store, t tenant.ID) (*Catalogue, error) { return s.build(ctx, t) }
