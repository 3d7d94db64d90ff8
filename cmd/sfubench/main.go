// Command sfubench measures the SFU's forwarding: Go publishers and
// subscribers (media/sfu/sfutest, generated VP8 and Opus, no browser)
// on loopback, one publisher with 1, 10 and 50 subscribers. The SFU runs
// in a child process ("sfubench -serve") so its CPU time, read with
// getrusage, excludes the clients'. The baseline is a plain UDP relay,
// also in a child process ("sfubench -relay"), copying packets of the
// same sizes at the same rate to the same number of receivers; the
// report gives the SFU's forwarded packets per CPU-second, the loss,
// and the SFU's cost relative to the relay.
//
// The children answer "cpu" lines on stdin with "CPU <ns> <packets>":
// their user+system CPU time and the packets they have forwarded.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/sfu/sfutest"
)

func main() {
	serve := flag.Bool("serve", false, "run the SFU (child process)")
	relay := flag.Bool("relay", false, "run the UDP relay (child process)")
	to := flag.String("to", "", "relay: comma-separated receiver addresses")
	subs := flag.String("subs", "1,10,50", "subscribers per publisher, one run each")
	dur := flag.Duration("d", 8*time.Second, "measured time per run")
	flag.Parse()
	var err error
	switch {
	case *serve:
		err = runServe()
	case *relay:
		err = runRelay(*to)
	default:
		err = runBench(*subs, *dur)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// answerCPU serves the parent's "cpu" requests until stdin closes.
func answerCPU(packets func() uint64) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Printf("CPU %d %d\n", cpuTime().Nanoseconds(), packets())
	}
}

func runServe() error {
	s, err := sfu.New(sfu.Config{Loopback: true, MaxParticipants: 64})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		q := r.URL.Query()
		p := sfu.Participant{ID: q.Get("id"), Name: q.Get("id"), Role: q.Get("role")}
		_ = s.Serve(r.Context(), q.Get("room"), p, c, sfu.Welcome{})
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("ADDR ws://%s/\n", ln.Addr())
	answerCPU(func() uint64 { return s.Stats().PacketsForwarded })
	_ = s.Close()
	return srv.Close()
}

func runRelay(to string) error {
	var dsts []*net.UDPAddr
	for _, a := range strings.Split(to, ",") {
		ua, err := net.ResolveUDPAddr("udp4", a)
		if err != nil {
			return err
		}
		dsts = append(dsts, ua)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	var n atomic.Uint64
	go func() {
		buf := make([]byte, 1500)
		for {
			k, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			for _, d := range dsts {
				if _, err := conn.WriteToUDP(buf[:k], d); err == nil {
					n.Add(1)
				}
			}
		}
	}()
	fmt.Printf("ADDR %s\n", conn.LocalAddr())
	answerCPU(n.Load)
	return nil
}

// child is a running -serve or -relay process.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startChild(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	// The variable lets the test binary, started as a child, behave as
	// the command does (see main_test.go).
	cmd.Env = append(os.Environ(), "SFUBENCH_CHILD=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !c.out.Scan() {
		c.stop()
		return nil, errors.New("child did not start")
	}
	c.addr = strings.TrimPrefix(c.out.Text(), "ADDR ")
	return c, nil
}

// sample returns the child's CPU time and forwarded packets.
func (c *child) sample() (time.Duration, uint64, error) {
	if _, err := io.WriteString(c.in, "cpu\n"); err != nil {
		return 0, 0, err
	}
	if !c.out.Scan() {
		return 0, 0, errors.New("child went away")
	}
	f := strings.Fields(c.out.Text())
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("child said %q", c.out.Text())
	}
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	pk, _ := strconv.ParseUint(f[2], 10, 64)
	return time.Duration(ns), pk, nil
}

func (c *child) stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// result is one run's figures.
type result struct {
	subs      int
	forwarded uint64
	cpu       time.Duration
	loss      float64
}

func (r result) perCPUSecond() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.forwarded) / r.cpu.Seconds()
}

func runBench(list string, dur time.Duration) error {
	start := time.Now()
	var ns []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -subs %q", list)
		}
		ns = append(ns, n)
	}
	srv, err := startChild("-serve")
	if err != nil {
		return err
	}
	defer srv.stop()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at start: %s", b)
	}
	fmt.Printf("%-6s %14s %10s %12s %8s %14s %8s\n", "subs", "SFU pkt/CPU-s", "SFU CPU", "SFU pkt/s", "loss", "relay pkt/CPU-s", "ratio")
	for i, n := range ns {
		sres, err := benchSFU(srv, fmt.Sprintf("room%d", i), n, dur)
		if err != nil {
			return fmt.Errorf("SFU with %d subscribers: %w", n, err)
		}
		rres, err := benchRelay(n, dur/2)
		if err != nil {
			return fmt.Errorf("relay with %d receivers: %w", n, err)
		}
		ratio := 0.0
		if rres.perCPUSecond() > 0 {
			ratio = sres.perCPUSecond() / rres.perCPUSecond()
		}
		fmt.Printf("%-6d %14.0f %9.2fs %12.0f %7.2f%% %14.0f %8.3f\n", n, sres.perCPUSecond(), sres.cpu.Seconds(),
			float64(sres.forwarded)/dur.Seconds(), 100*sres.loss, rres.perCPUSecond(), ratio)
	}
	fmt.Printf("total wall time %.1fs\n", time.Since(start).Seconds())
	return nil
}

func benchSFU(srv *child, room string, n int, dur time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	dial := func(id, role string) (*sfutest.Client, error) {
		q := url.Values{"room": {room}, "id": {id}, "role": {role}}
		return sfutest.Dial(ctx, srv.addr+"?"+q.Encode())
	}
	var clients []*sfutest.Client
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Close() }()
		}
		wg.Wait()
	}()
	pub, err := dial("pub", "operator")
	if err != nil {
		return result{}, err
	}
	clients = append(clients, pub)
	var subs []*sfutest.Client
	for i := range n {
		c, err := dial(fmt.Sprintf("sub%d", i), "citizen")
		if err != nil {
			return result{}, err
		}
		clients = append(clients, c)
		subs = append(subs, c)
	}
	if err := pub.Publish(ctx, sfutest.Media{Audio: true, Video: true}); err != nil {
		return result{}, err
	}
	// Setup: every subscriber receives both tracks.
	for _, c := range subs {
		for {
			a, v := c.Received()
			if a > 0 && v > 0 {
				break
			}
			select {
			case <-ctx.Done():
				var missing []string
				for i, c := range subs {
					if a, v := c.Received(); a == 0 || v == 0 {
						missing = append(missing, fmt.Sprintf("sub%d(audio %d, video %d)", i, a, v))
					}
				}
				return result{}, fmt.Errorf("subscribers did not all receive media: %s", strings.Join(missing, " "))
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	time.Sleep(time.Second) // let the key frame bursts and NACKs of the start settle
	received := func() uint64 {
		var t uint64
		for _, c := range subs {
			a, v := c.Received()
			t += a + v
		}
		return t
	}
	cpu0, fwd0, err := srv.sample()
	if err != nil {
		return result{}, err
	}
	sent0, recv0 := pub.Sent(), received()
	time.Sleep(dur)
	cpu1, fwd1, err := srv.sample()
	if err != nil {
		return result{}, err
	}
	// Packets in flight at the end still count as received.
	sent1 := pub.Sent()
	time.Sleep(300 * time.Millisecond)
	recv1 := received()
	return result{subs: n, forwarded: fwd1 - fwd0, cpu: cpu1 - cpu0, loss: lossOf(sent1-sent0, recv1-recv0, n)}, nil
}

func lossOf(sent, recv uint64, n int) float64 {
	want := float64(sent) * float64(n)
	if want == 0 {
		return 0
	}
	l := 1 - float64(recv)/want
	if l < 0 {
		return 0
	}
	return l
}

// benchRelay sends packets of the sizes and rate the publisher sends
// (three 1187-byte video packets every 33 ms, one 80-byte audio packet
// every 20 ms) through the relay to n receivers.
func benchRelay(n int, dur time.Duration) (result, error) {
	var (
		recvs []*net.UDPConn
		addrs []string
		got   atomic.Uint64
		wg    sync.WaitGroup
	)
	defer func() {
		for _, r := range recvs {
			_ = r.Close()
		}
		wg.Wait()
	}()
	for range n {
		r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return result{}, err
		}
		_ = r.SetReadBuffer(1 << 20)
		recvs = append(recvs, r)
		addrs = append(addrs, r.LocalAddr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, err := r.Read(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	rl, err := startChild("-relay", "-to", strings.Join(addrs, ","))
	if err != nil {
		return result{}, err
	}
	defer rl.stop()
	dst, err := net.ResolveUDPAddr("udp4", rl.addr)
	if err != nil {
		return result{}, err
	}
	snd, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		return result{}, err
	}
	defer snd.Close()
	video, audio := make([]byte, 1187+13), make([]byte, 80+12)
	var sent uint64
	cpu0, fwd0, err := rl.sample()
	if err != nil {
		return result{}, err
	}
	got0 := got.Load()
	vt, at := time.NewTicker(33*time.Millisecond), time.NewTicker(20*time.Millisecond)
	defer vt.Stop()
	defer at.Stop()
	end := time.After(dur)
loop:
	for {
		select {
		case <-vt.C:
			for range 3 {
				if _, err := snd.Write(video); err == nil {
					sent++
				}
			}
		case <-at.C:
			if _, err := snd.Write(audio); err == nil {
				sent++
			}
		case <-end:
			break loop
		}
	}
	cpu1, fwd1, err := rl.sample()
	if err != nil {
		return result{}, err
	}
	time.Sleep(200 * time.Millisecond)
	return result{subs: n, forwarded: fwd1 - fwd0, cpu: cpu1 - cpu0, loss: lossOf(sent, got.Load()-got0, n)}, nil
}
