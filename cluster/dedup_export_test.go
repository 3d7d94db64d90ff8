package cluster

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// DropProposeAnswers makes n, as the leader, close the connection instead
// of answering the next count forwarded proposals (after it proposed
// them): the answer is lost, as when a leader dies or the network breaks
// at that moment.
func DropProposeAnswers(n *Node, count int32) { n.dropAnswers.Store(count) }

// JoinRequestForTest builds the join request of node nodeID with a new key
// for the token tok (its text form).
func JoinRequestForTest(t testing.TB, tok, nodeID string) joinRequest {
	t.Helper()
	parsed, err := pki.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	return joinRequest{TokenID: parsed.ID, Secret: parsed.Secret, NodeID: nodeID, CSR: csr, Advertise: "127.0.0.1:0"}
}

// SendJoinForTest sends req to the node at addr. With read false it closes
// the connection as soon as the request is written (the answer is lost);
// with read true it returns the answer's voter flag or error.
func SendJoinForTest(addr, tok string, req joinRequest, read bool) (bool, error) {
	parsed, err := pki.ParseToken(tok)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if !read {
		d := tls.Dialer{Config: pki.PinnedConfig(parsed.CAFingerprint)}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, err
		}
		defer c.Close()
		if _, err := c.Write([]byte{tagJoin}); err != nil {
			return false, err
		}
		return false, writeFrame(c, req)
	}
	resp, err := joinOnce(ctx, addr, parsed.CAFingerprint, req)
	if err != nil {
		return false, err
	}
	if resp.Error != nil {
		codec := newErrorCodec()
		return false, codec.decode(resp.Error)
	}
	return resp.Voter, nil
}
