// Command turnbench measures the TURN relay of Sportello (media/turn)
// against coturn on the same machine with the same client and load:
// coturn's own turnutils_uclient, run with identical flags against each
// server in turn. Each server runs in its own process so its CPU time can
// be read from /proc; Sportello's runs as "turnbench -serve".
//
//	turnbench [-m 20] [-n 1000] [-l 100] [-z 1]
//
// It prints a table: packets sent and received, loss, packets per second,
// server CPU seconds and packets per server CPU-second, with the ratio
// ours/coturn. The run is short on purpose (the machine may be shared).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/media/turn"
)

func main() {
	var (
		serve     = flag.Bool("serve", false, "run Sportello's TURN server on -addr until SIGTERM (used by the benchmark itself)")
		addr      = flag.String("addr", "127.0.0.1:3478", "listen address in -serve mode")
		secret    = flag.String("secret", "turnbench-secret", "TURN REST secret shared by the servers and the client")
		clients   = flag.Int("m", 20, "turnutils_uclient -m: number of clients")
		messages  = flag.Int("n", 1000, "turnutils_uclient -n: messages per client")
		length    = flag.Int("l", 100, "turnutils_uclient -l: message length in bytes")
		interval  = flag.Int("z", 1, "turnutils_uclient -z: per-session packet interval in milliseconds")
		uclient   = flag.String("uclient", "turnutils_uclient", "path of coturn's turnutils_uclient")
		coturn    = flag.String("turnserver", "turnserver", "path of coturn's turnserver")
		rounds    = flag.Int("rounds", 1, "runs per server (alternating ours, coturn)")
		timeLimit = flag.Duration("timeout", 60*time.Second, "limit for one uclient run")
	)
	flag.Parse()
	if *serve {
		if err := serveTURN(*addr, *secret); err != nil {
			fmt.Fprintln(os.Stderr, "turnbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	load := Load{Clients: *clients, Messages: *messages, Length: *length, Interval: *interval, Secret: *secret}
	b := bench{uclient: *uclient, coturn: *coturn, load: load, timeout: *timeLimit}
	var ours, theirs []Result
	for range *rounds {
		r, err := b.run(ctxSignal(), "sportello")
		if err != nil {
			fmt.Fprintln(os.Stderr, "turnbench: sportello:", err)
			os.Exit(1)
		}
		ours = append(ours, r)
		r, err = b.run(ctxSignal(), "coturn")
		if err != nil {
			fmt.Fprintln(os.Stderr, "turnbench: coturn:", err)
			os.Exit(1)
		}
		theirs = append(theirs, r)
	}
	fmt.Print(Table(load, ours, theirs))
}

func ctxSignal() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx
}

// serveTURN is the -serve mode: Sportello's server as the benchmark needs
// it. Loopback peers are allowed (the uclient relays between its own
// allocations on 127.0.0.1), and the per-user limits are raised because
// the uclient uses one user for all its clients; the bandwidth bucket is
// still in the path, only set above what the run can reach.
func serveTURN(addr, secret string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := turn.Start(turn.Config{
		Realm:                 "bench",
		UDP:                   addr,
		TCP:                   addr,
		RelayIP:               net.IPv4(127, 0, 0, 1),
		RelayBind:             "127.0.0.1",
		Secrets:               func() [][]byte { return [][]byte{[]byte(secret)} },
		AllowPeers:            []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		MaxAllocationsPerUser: 100_000,
		BandwidthPerUser:      1 << 30,
		Logger:                log,
	})
	if err != nil {
		return err
	}
	ctx := ctxSignal()
	<-ctx.Done()
	return s.Close()
}
