package chat

import "github.com/sportello-virtuale/sportello/assistant/knowledge"

// knowledge.Store is the Catalogues of cmd/sportello.
var _ Catalogues = (*knowledge.Store)(nil)
