package cluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// joinTimeout bounds one join request on the admitting node: consuming the
// token (a proposal, maybe forwarded) and signing.
const joinTimeout = 30 * time.Second

// joinRequest is what a joining node sends on the join tag, over a TLS
// connection without a client certificate that pinned the CA by the token's
// fingerprint.
type joinRequest struct {
	TokenID string `json:"token_id"`
	Secret  string `json:"secret"`
	NodeID  string `json:"node_id"`
	CSR     []byte `json:"csr"` // DER, pki.CSR
	// Advertise is the address other nodes will dial; it goes into the
	// certificate as a SAN when it is an IP or a host name.
	Advertise string `json:"advertise"`
}

// joinResponse is the admitting node's answer: the signed certificate
// (node then CA, PEM), the CA, and whether the token admits a voter.
type joinResponse struct {
	CertPEM []byte `json:"cert"`
	CAPEM   []byte `json:"ca"`
	Voter   bool   `json:"voter"`
	// Secret is Config.JoinSecret of the admitting node, if any.
	Secret []byte     `json:"secret,omitempty"`
	Error  *wireError `json:"error,omitempty"`
}

// serveJoin answers one join request. The token is consumed through the
// log (apply checks the secret's hash, expiry and single use), then the
// CSR is signed here with the CA of the replicated state: signing is
// random and stays out of apply. The new node is not added to the raft
// configuration here: it asks for that itself once it runs with its
// certificate (Node.JoinCluster), so that a voter that never starts does
// not cost the cluster its quorum.
func (n *Node) serveJoin(c net.Conn) {
	c.SetDeadline(time.Now().Add(joinTimeout + 5*time.Second))
	var req joinRequest
	if err := readFrame(bufio.NewReader(c), &req); err != nil {
		return
	}
	resp, err := n.admit(req)
	if err != nil {
		n.log.Warn("join refused", "token", req.TokenID, "node_id", req.NodeID, "remote", c.RemoteAddr().String(), "err", err)
		resp = joinResponse{Error: n.codec.encode(err)}
	} else {
		n.log.Info("node admitted", "token", req.TokenID, "node_id", req.NodeID, "voter", resp.Voter)
	}
	writeFrame(c, resp)
}

func (n *Node) admit(req joinRequest) (joinResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	ca, err := n.loadCA(ctx)
	if err != nil {
		return joinResponse{}, err
	}
	// Check the request before the token is spent on it.
	if _, err := pki.NodeURI(ca.ClusterName(), req.NodeID); err != nil {
		return joinResponse{}, err
	}
	if err := checkCSR(ca, req, n.cfg.Now()); err != nil {
		return joinResponse{}, err
	}
	secretHash := pki.Token{Secret: req.Secret}.SecretHash()
	cmd, err := NewCommand(tokenUseType, 1, "", tokenUsePayload{
		ID: req.TokenID, SecretHash: secretHash, NodeID: req.NodeID,
	})
	if err != nil {
		return joinResponse{}, err
	}
	if cmd.RequestID, err = joinRequestID(req, secretHash); err != nil {
		return joinResponse{}, err
	}
	res, err := n.Propose(ctx, cmd)
	if errors.Is(err, ErrNotSupportedByCluster) {
		// A member predates request IDs (rolling upgrade): join as
		// before, a retry then finds the token used.
		cmd.RequestID = ""
		res, err = n.Propose(ctx, cmd)
	}
	if err != nil {
		return joinResponse{}, err
	}
	var voter bool
	switch v := res.Value.(type) {
	case tokenUseResult:
		voter = v.Voter
	case json.RawMessage: // forwarded to the leader
		var r tokenUseResult
		if err := json.Unmarshal(v, &r); err != nil {
			return joinResponse{}, fmt.Errorf("cluster: decode token.use result: %w", err)
		}
		voter = r.Voter
	}
	certPEM, err := ca.SignNode(req.CSR, req.NodeID, hostsOf(req.Advertise), n.cfg.Now(), n.cfg.CertValidity)
	if err != nil {
		return joinResponse{}, err
	}
	var secret []byte
	if n.cfg.JoinSecret != nil {
		if secret, err = n.cfg.JoinSecret(); err != nil {
			return joinResponse{}, fmt.Errorf("cluster: join secret: %w", err)
		}
	}
	return joinResponse{CertPEM: certPEM, CAPEM: ca.CertPEM(), Voter: voter, Secret: secret}, nil
}

// joinRequestID names a join request by its token, secret, node ID and
// public key: the same node asking again with the same key after its
// answer was lost (a retry) consumes the token once and gets the recorded
// outcome again (dedup.go), so it is admitted again; another node, or the
// same node ID with another key, is a new request and finds the token
// used. The secret is part of the name, so a wrong secret is never
// answered with a recorded success.
func joinRequestID(req joinRequest, secretHash []byte) (string, error) {
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return "", fmt.Errorf("cluster: join: certificate request: %w", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(req.TokenID), secretHash, []byte(req.NodeID), csr.RawSubjectPublicKeyInfo} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	return "cluster.join/" + hex.EncodeToString(h.Sum(nil)), nil
}

// checkCSR signs the request once with a throwaway validity to find out,
// before the token is consumed, whether SignNode would refuse it.
func checkCSR(ca *pki.CA, req joinRequest, now time.Time) error {
	_, err := ca.SignNode(req.CSR, req.NodeID, hostsOf(req.Advertise), now, time.Minute)
	return err
}

// hostsOf returns the host of an advertise address as a SAN list.
func hostsOf(advertise string) []string {
	host, _, err := net.SplitHostPort(advertise)
	if err != nil || host == "" {
		return nil
	}
	return []string{host}
}

// JoinOptions are the inputs of Join.
type JoinOptions struct {
	// Token is the join token's text form (SPT1-...).
	Token string
	// Addr is the cluster address (RaftAddr) of any node of the cluster.
	Addr string
	// NodeID is the new node's ID.
	NodeID string
	// AdvertiseAddr is the address other nodes will dial to reach the new
	// node; its host goes into the certificate.
	AdvertiseAddr string
	// Timeout bounds the whole exchange. Default 30s.
	Timeout time.Duration
	// OnSecret, when set, receives the admitting node's Config.JoinSecret
	// (only when it sent one), before Join returns; an error fails the
	// join.
	OnSecret func([]byte) error
}

// Join runs the join handshake of a new node against the node at
// opts.Addr: it makes the node's key, dials with the CA pinned by the
// token's fingerprint (pki.PinnedConfig), presents the token and a CSR and
// returns the node's identity (the caller saves it with pki.SaveIdentity)
// and whether the token admits a voter. The node then starts with
// Config{Join: true, Identity} and calls JoinCluster.
func Join(ctx context.Context, opts JoinOptions) (*pki.Identity, bool, error) {
	tok, err := pki.ParseToken(opts.Token)
	if err != nil {
		return nil, false, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	key, err := pki.NewNodeKey()
	if err != nil {
		return nil, false, err
	}
	csr, err := pki.CSR(key, opts.NodeID)
	if err != nil {
		return nil, false, err
	}
	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		return nil, false, err
	}
	req := joinRequest{TokenID: tok.ID, Secret: tok.Secret, NodeID: opts.NodeID, CSR: csr, Advertise: opts.AdvertiseAddr}
	// A request whose answer is lost is sent again with the same key and
	// CSR: the admitting node recognises the retry (joinRequestID) and
	// admits the node again instead of finding the token used.
	var resp joinResponse
	for attempt := 1; ; attempt++ {
		resp, err = joinOnce(ctx, opts.Addr, tok.CAFingerprint, req)
		if err == nil || !errors.Is(err, errJoinNoAnswer) || attempt == joinAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return nil, false, errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, false, err
	}
	if resp.Error != nil {
		codec := newErrorCodec()
		return nil, false, fmt.Errorf("cluster: join refused by %s: %w", opts.Addr, codec.decode(resp.Error))
	}
	id, err := pki.ParseIdentity(resp.CertPEM, keyPEM, resp.CAPEM)
	if err != nil {
		return nil, false, fmt.Errorf("cluster: join: the answer: %w", err)
	}
	if pki.FingerprintOf(id.CA) != tok.CAFingerprint {
		return nil, false, fmt.Errorf("cluster: join: %w", pki.ErrFingerprintMismatch)
	}
	if len(resp.Secret) > 0 && opts.OnSecret != nil {
		if err := opts.OnSecret(resp.Secret); err != nil {
			return nil, false, fmt.Errorf("cluster: join: keep the cluster secret: %w", err)
		}
	}
	return id, resp.Voter, nil
}

// joinAttempts bounds how often Join sends its request when the answer is
// lost.
const joinAttempts = 3

// errJoinNoAnswer marks a join request that was sent but not answered.
var errJoinNoAnswer = errors.New("no answer")

// joinOnce sends one join request to addr and reads the answer.
func joinOnce(ctx context.Context, addr, caFingerprint string, req joinRequest) (joinResponse, error) {
	var resp joinResponse
	d := tls.Dialer{Config: pki.PinnedConfig(caFingerprint)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return resp, fmt.Errorf("cluster: join %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write([]byte{tagJoin}); err != nil {
		return resp, fmt.Errorf("cluster: join %s: %w", addr, err)
	}
	if err := writeFrame(c, req); err != nil {
		return resp, fmt.Errorf("cluster: join %s: %w", addr, err)
	}
	if err := readFrame(bufio.NewReader(c), &resp); err != nil {
		return resp, fmt.Errorf("cluster: join %s: %w: %w", addr, errJoinNoAnswer, err)
	}
	return resp, nil
}

// JoinCluster asks the leader (through seedAddr, any node of the cluster)
// to add this node, started with Config.Join and the identity Join
// returned, to the raft configuration as a voter or a non-voter. Call it
// concurrently with Start, which returns only once the node has been
// added and has caught up; it waits for Start to open the listener and
// retries until a leader accepts or ctx ends. Asking again for a node
// that is already a member is harmless.
//
// A voter joins staged (AddStagedVoter): it is added as a non-voter and
// the leader promotes it once it has caught up, so that a node still
// receiving the log never counts towards the quorum. JoinCluster then
// returns once this node is a voter, so that an operator who adds nodes
// one at a time, waiting for each to serve, never has two catching up at
// once. A leader of an older version, which does not know staged joins,
// adds it as a voter at once, as before.
func (n *Node) JoinCluster(ctx context.Context, seedAddr string, voter bool) error {
	for n.stream.Load() == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closing:
			return ErrClosed
		case <-time.After(20 * time.Millisecond):
		}
	}
	op := opAddNonvoter
	if voter {
		op = opAddStaged
	}
	for {
		resp, err := n.call(ctx, seedAddr, "", rpcRequest{Op: op, ID: n.cfg.NodeID, Addr: n.RaftAddr()})
		if err == nil {
			err = n.codec.decode(resp.Error)
		}
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.LeaderAddr != "" {
			seedAddr = nl.LeaderAddr
			continue
		}
		if err != nil && op == opAddStaged && strings.Contains(err.Error(), "unknown RPC operation") {
			n.log.Warn("the leader does not know staged joins (older version): joining as a voter at once", "leader", seedAddr)
			op = opAddVoter
			continue
		}
		if err == nil && op == opAddStaged {
			n.log.Info("added as a non-voter: the leader promotes this node to voter once it has caught up")
			// The configuration this node knows may still be an older
			// one that names it a voter (a wiped node that installed a
			// snapshot taken before it was demoted): first apply what the
			// leader had committed when it answered, which includes the
			// change that made this node a non-voter.
			if err := n.barrierRetry(ctx); err != nil {
				return fmt.Errorf("cluster: join cluster: added as a non-voter, not caught up: %w", err)
			}
			if err := n.waitVoter(ctx); err != nil {
				return fmt.Errorf("cluster: join cluster: added as a non-voter, not yet promoted to voter: %w", err)
			}
			n.log.Info("promoted to voter")
			return nil
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: join cluster via %s: %w", seedAddr, errors.Join(err, ctx.Err()))
		case <-n.closing:
			return ErrClosed
		case <-time.After(200 * time.Millisecond):
		}
	}
}
