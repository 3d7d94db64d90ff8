package turn

import "errors"

// ErrConfig reports a Config that cannot start a server: no listener, no
// secrets, a TLS address without a certificate, a bad port range.
var ErrConfig = errors.New("turn: invalid configuration")
