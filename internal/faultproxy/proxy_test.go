package faultproxy

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer answers every line with "ok:<line>" and counts the lines it
// executed.
func echoServer(t *testing.T) (addr string, executed *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	executed = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewScanner(c)
				for r.Scan() {
					executed.Add(1)
					if _, err := c.Write([]byte("ok:" + r.Text() + "\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String(), executed
}

func roundTrip(c net.Conn, line string, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func TestForwardAndLatency(t *testing.T) {
	addr, _ := echoServer(t)
	p, err := New(addr)
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	got, err := roundTrip(c, "a", 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, "ok:a", got)

	p.SetLatency(300 * time.Millisecond)
	_, err = roundTrip(c, "b", 50*time.Millisecond)
	require.Error(t, err, "a reply slower than the client's deadline must time out")
	p.SetLatency(0)
}

func TestCutReplyOnce(t *testing.T) {
	addr, executed := echoServer(t)
	p, err := New(addr)
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	done := p.CutReplyOnce([]byte("secret-cmd"))
	_, err = roundTrip(c, "secret-cmd", 2*time.Second)
	require.Error(t, err, "the reply must be lost")
	<-done
	require.EqualValues(t, 1, p.Cuts())
	require.EqualValues(t, 1, executed.Load(), "the server must have executed the command")

	// One-shot: a new connection works normally.
	c2, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c2.Close()
	got, err := roundTrip(c2, "secret-cmd", 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, "ok:secret-cmd", got)
}

func TestDownAndBlackhole(t *testing.T) {
	addr, executed := echoServer(t)
	p, err := New(addr)
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = roundTrip(c, "x", 2*time.Second)
	require.NoError(t, err)

	p.SetDown(true)
	_, err = roundTrip(c, "y", 2*time.Second)
	require.Error(t, err, "open connections are reset")
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_, err = roundTrip(c2, "z", 2*time.Second)
		c2.Close()
	}
	require.Error(t, err, "new connections are refused")
	p.SetDown(false)

	p.SetBlackhole(true)
	c3, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c3.Close()
	before := executed.Load()
	_, err = roundTrip(c3, "w", 200*time.Millisecond)
	require.Error(t, err)
	require.Equal(t, before, executed.Load(), "a blackhole forwards nothing")
	p.SetBlackhole(false)
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	addr, _ := echoServer(t)
	p, err := New(addr)
	require.NoError(t, err)
	p.SetLatency(time.Hour) // goroutines parked in a latency wait must still end
	for range 5 {
		c, err := net.Dial("tcp", p.Addr())
		require.NoError(t, err)
		_, _ = c.Write([]byte("q\n"))
		defer c.Close()
	}
	require.Eventually(t, func() bool { return p.Open() == 5 }, 2*time.Second, 10*time.Millisecond)
	require.Positive(t, proxyGoroutines())
	require.NoError(t, p.Close()) // waits for its goroutines
	// A goroutine that has run its deferred wg.Done may still be returning
	// when Close does; it must be gone moments later.
	require.Eventually(t, func() bool { return proxyGoroutines() == 0 }, 2*time.Second, 5*time.Millisecond,
		"no proxy goroutine outlives Close")
}

// proxyGoroutines counts goroutines running code of this package's Proxy.
func proxyGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "faultproxy.(*Proxy)")
}
