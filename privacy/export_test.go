package privacy

import "github.com/sportello-virtuale/sportello/cluster"

// RegisterOlder registers the package as a member of the release before
// privacy.erase version 2 does (a rolling upgrade).
func RegisterOlder(r *cluster.Registry) { register(r, payloadVersion) }
