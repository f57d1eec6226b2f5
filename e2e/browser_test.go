// Package e2e holds the real-browser end-to-end test of examples/cookie:
// what a browser really does with the cookies (Secure, __Host-, SameSite)
// and the transparent refresh, which no Go HTTP client reproduces. It is a module of its own, so chromedp never
// becomes a dependency of the library, and the test only runs with
// RTR_E2E=1:
//
//	cd e2e && RTR_E2E=1 go test -count=1 -v ./...
//
// It drives Debian's chromium headless (no browser download). Environment:
//
//	RTR_E2E=1            run the test (it skips otherwise)
//	RTR_E2E_CHROMIUM     browser binary (default: chromium on PATH, then /usr/bin/chromium)
//	RTR_E2E_COOKIE_BIN   a prebuilt examples/cookie binary (default: go build ../examples/cookie)
//
// The screenshot of the logged-in page is written to e2e/artifacts/.
package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

const (
	// accessTTL is the access-token lifetime the example is started with.
	accessTTL = 2 * time.Second
	// pastExpiry is how long the test waits after login before it uses the
	// session again: past the access expiry, so the next requests must
	// refresh. The wait is the behaviour under test, not a timing assertion.
	pastExpiry = accessTTL + 500*time.Millisecond

	parallelFetches = 10

	stepTimeout    = 20 * time.Second
	startTimeout   = 60 * time.Second
	buildTimeout   = 5 * time.Minute
	artifactsDir   = "artifacts"
	screenshotName = "logged-in.png"

	user     = "alice"
	password = "password"
)

// JWT "typ" headers of rtr's tokens (rtr.AccessTokenType and
// rtr.RefreshTokenType). The test finds the token cookies by their content,
// not by their names, which are the example's choice.
const (
	accessTyp  = "at+jwt"
	refreshTyp = "rt+jwt"
)

func TestBrowserCookieFlow(t *testing.T) {
	if os.Getenv("RTR_E2E") != "1" {
		t.Skip("set RTR_E2E=1 to run the real-browser end-to-end test")
	}

	bin := exampleBinary(t)
	base := startExample(t, bin)
	ctx := startBrowser(t)
	host := mustHost(t, base)

	// Log in through the form.
	t.Logf("step: open %s/ and log in as %s through the form", base, user)
	do(t, ctx, "open the login page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	)
	do(t, ctx, "fill and submit the login form",
		chromedp.SendKeys(chromedp.CSS(`#login-form [name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`#login-form [name="password"]`), password),
		chromedp.Click(chromedp.CSS(`#login-form button, #login-form input[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#logout")),
	)
	loggedIn := time.Now()
	body := run(t, ctx, "read the page", chromedp.Text(chromedp.CSS("body")))
	require.Contains(t, body, user, "the logged-in page should name the user")
	t.Logf("ok: logged in, the page shows %q and #logout", user)

	// The token cookies are HttpOnly: page JavaScript cannot read them.
	t.Log("step: check that page JavaScript cannot read the token cookies")
	login := tokenCookies(t, ctx, host)
	require.True(t, login.access.HTTPOnly, "access cookie %q must be HttpOnly", login.access.Name)
	require.True(t, login.refresh.HTTPOnly, "refresh cookie %q must be HttpOnly", login.refresh.Name)
	docCookie := run(t, ctx, "read document.cookie", chromedp.Evaluate[string](`document.cookie`))
	for _, c := range []*network.Cookie{login.access, login.refresh} {
		require.NotContains(t, docCookie, c.Value, "document.cookie must not expose cookie %q", c.Name)
		require.NotContains(t, docCookie, c.Name+"=", "document.cookie must not list cookie %q", c.Name)
	}
	for _, kv := range strings.Split(docCookie, ";") {
		_, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if typ, _, ok := decodeJWT(v); ok {
			require.Failf(t, "token visible to JavaScript", "document.cookie holds a %s token", typ)
		}
	}
	loginGen := generation(t, login.refresh)
	loginSID := claimString(t, login.refresh, "sid")
	require.EqualValues(t, 1, loginGen, "a fresh login is generation 1")
	t.Logf("ok: access cookie %q and refresh cookie %q are HttpOnly and absent from document.cookie (%d bytes visible to JS); refresh generation %d",
		login.access.Name, login.refresh.Name, len(docCookie), loginGen)

	// Let the access token expire. JWT dates are whole seconds, and a
	// server may compare them at that resolution, so wait until the second
	// after its exp too.
	exp := time.Unix(claimInt(t, login.access, "exp"), 0)
	until := loggedIn.Add(pastExpiry)
	if e := exp.Add(time.Second); e.After(until) {
		until = e
	}
	wait := time.Until(until)
	t.Logf("step: wait %v, past the %v access-token expiry", wait.Round(time.Millisecond), accessTTL)
	time.Sleep(wait)
	require.True(t, time.Now().After(exp), "the access token from the login should have expired by now")

	// Load the page and fire ten /api/me calls at once, all with the expired
	// access token and the generation-1 refresh token: the server must
	// refresh for them without treating the parallel copies as token theft,
	// and the refresh token must rotate exactly once.
	t.Logf("step: load / plus %d parallel fetch('/api/me') with the expired access token", parallelFetches)
	results := run(t, ctx, "page load plus parallel fetches", chromedp.Evaluate[[]fetchResult](
		fmt.Sprintf(`(async () => {
			const get = async (url) => {
				const r = await fetch(url, {credentials: 'same-origin', cache: 'no-store'});
				return {url: url, status: r.status, body: await r.text()};
			};
			const calls = [get('/')];
			for (let i = 0; i < %d; i++) calls.push(get('/api/me'));
			return await Promise.all(calls);
		})()`, parallelFetches),
		chromedp.EvalAwaitPromise,
	))
	require.Len(t, results, parallelFetches+1)
	statuses := make([]string, len(results))
	for i, r := range results {
		statuses[i] = fmt.Sprintf("%s %d", r.URL, r.Status)
	}
	t.Logf("statuses: %s", strings.Join(statuses, ", "))
	require.Equal(t, http.StatusOK, results[0].Status, "GET / after the access expiry")
	require.Containsf(t, results[0].Body, `id="logout"`, "GET / after the access expiry should still be logged in (statuses: %v)", statuses)
	require.Contains(t, results[0].Body, user, "GET / after the access expiry should still name the user")
	for i, r := range results[1:] {
		require.Equalf(t, http.StatusOK, r.Status, "fetch #%d of /api/me: body %q (statuses: %v)", i+1, r.Body, statuses)
		var me apiMe
		require.NoErrorf(t, json.Unmarshal([]byte(r.Body), &me), "fetch #%d of /api/me: body %q", i+1, r.Body)
		require.Equalf(t, user, me.Subject, "fetch #%d of /api/me", i+1)
		require.Equalf(t, loginSID, me.SessionID, "fetch #%d of /api/me: same session as the login", i+1)
	}
	rotated := tokenCookies(t, ctx, host)
	require.NotEqual(t, login.refresh.Value, rotated.refresh.Value, "the refresh cookie should have rotated")
	require.EqualValues(t, loginGen+1, generation(t, rotated.refresh),
		"the refresh token should have rotated exactly once (generation %d to %d)", loginGen, loginGen+1)
	require.Equal(t, loginSID, claimString(t, rotated.refresh, "sid"), "the rotated refresh token belongs to the same session")
	t.Logf("ok: GET / and %d × /api/me all 200 as %s in session %s; refresh cookie rotated once, generation %d → %d",
		parallelFetches, user, loginSID, loginGen, generation(t, rotated.refresh))

	// Reload the page in the tab: still logged in.
	t.Log("step: reload the logged-in page")
	do(t, ctx, "reload /",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#logout")),
	)
	reloaded := time.Now()
	body = run(t, ctx, "read the reloaded page", chromedp.Text(chromedp.CSS("body")))
	require.Contains(t, body, user, "the reloaded page should name the user")
	after := tokenCookies(t, ctx, host)
	if reloaded.Before(time.Unix(claimInt(t, rotated.access, "exp"), 0)) {
		// The access token from the refresh was still valid, so the
		// reload had no reason to rotate again.
		require.Equal(t, rotated.refresh.Value, after.refresh.Value,
			"the reload used a valid access token and should not rotate the refresh token again")
		t.Logf("ok: reloaded page shows %s, refresh cookie unchanged (generation %d)", user, generation(t, after.refresh))
	} else {
		t.Logf("ok: reloaded page shows %s (the machine was slow: the reload came after the new access token's expiry, so it may rotate again; generation now %d)",
			user, generation(t, after.refresh))
	}

	// The artifact: a screenshot of the logged-in page.
	png := run(t, ctx, "full-page screenshot", chromedp.FullScreenshot(100))
	require.NoError(t, os.MkdirAll(artifactsDir, 0o755))
	shot := filepath.Join(artifactsDir, screenshotName)
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("ok: saved the screenshot of the logged-in page to e2e/%s (%d bytes)", filepath.ToSlash(shot), len(png))

	// Log out: /api/me turns 401, also with the last refresh cookie put back.
	t.Log("step: click #logout")
	last := tokenCookies(t, ctx, host)
	do(t, ctx, "log out",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	)
	status := run(t, ctx, "fetch /api/me after logout", chromedp.Evaluate[int](
		`fetch('/api/me', {credentials: 'same-origin', cache: 'no-store'}).then(r => r.status)`,
		chromedp.EvalAwaitPromise,
	))
	require.Equal(t, http.StatusUnauthorized, status, "/api/me after logout")
	left := cookieNames(t, ctx, host)
	t.Logf("ok: back at the login form, /api/me is 401; cookies left in the browser: %v", left)

	// Logout must end the session on the server, not only clear the
	// cookies: the refresh token from before the logout is dead too.
	t.Log("step: put the pre-logout refresh cookie back and fetch /api/me")
	_, err := chromedp.CallBrowser(ctx, storage.SetCookies, storage.SetCookiesParams{
		Cookies: []*network.CookieParam{cookieParam(last.refresh)},
	})
	require.NoError(t, err, "restore the old refresh cookie")
	status = run(t, ctx, "fetch /api/me with the revoked refresh token", chromedp.Evaluate[int](
		`fetch('/api/me', {credentials: 'same-origin', cache: 'no-store'}).then(r => r.status)`,
		chromedp.EvalAwaitPromise,
	))
	require.Equal(t, http.StatusUnauthorized, status, "/api/me with the refresh token of the logged-out session")
	t.Log("ok: the logged-out session's refresh token is refused (401)")
}

// fetchResult is one fetch made by the page.
type fetchResult struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// apiMe is the JSON answer of GET /api/me.
type apiMe struct {
	Subject   string `json:"subject"`
	SessionID string `json:"session_id"`
}

// do runs actions with a timeout and fails the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, what, chromedp.Steps(steps...))
}

// run runs one action with a timeout and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	require.NoError(t, err, what)
	return v
}

// exampleBinary builds examples/cookie from the repository root, or returns
// RTR_E2E_COOKIE_BIN.
func exampleBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("RTR_E2E_COOKIE_BIN"); bin != "" {
		t.Logf("step: using the prebuilt example %s", bin)
		return bin
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "cookie")
	t.Log("step: go build ./examples/cookie")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/cookie")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "go build ./examples/cookie in %s:\n%s", root, out)
	return bin
}

// startExample runs the example on a free loopback port with a short access
// TTL and returns its base URL once it says it listens.
func startExample(t *testing.T, bin string) string {
	t.Helper()
	addr := freeLoopbackAddr(t)
	cmd := exec.Command(bin, "-addr", addr, "-access-ttl", accessTTL.String(), "-insecure-cookies")
	out := &lines{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	t.Logf("step: start %s", strings.Join(cmd.Args, " "))
	require.NoError(t, cmd.Start())

	listening := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			out.add(line)
			if _, rest, ok := strings.Cut(line, "listening on http://"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					select {
					case listening <- strings.TrimRight(f[0], "/"):
					default:
					}
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()

	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		<-scanned
		// The example logs its session events (issued, rotated, retried,
		// revoked): the server's side of the story, for the CI log.
		t.Logf("example output:\n%s", out.String())
	})

	select {
	case got := <-listening:
		require.Equal(t, addr, got, "the example should listen on the address it was given")
		t.Logf("ok: the example listens on http://%s", got)
		return "http://" + got
	case err := <-exited:
		require.Failf(t, "the example exited before listening", "%v\n%s", err, out.String())
	case <-time.After(startTimeout):
		require.Failf(t, "the example did not say it listens", "within %v:\n%s", startTimeout, out.String())
	}
	return ""
}

// startBrowser starts headless chromium in a fresh profile and returns a
// chromedp context whose browser is already running, so that steps can have
// timeouts of their own.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	execPath := os.Getenv("RTR_E2E_CHROMIUM")
	if execPath == "" {
		var err error
		if execPath, err = exec.LookPath("chromium"); err != nil {
			execPath = "/usr/bin/chromium"
		}
	}
	profile, err := os.MkdirTemp("", "rtr-e2e-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Chromium's helpers can linger for a moment after it exits.
		for i := 0; i < 50; i++ {
			if err = os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s: %v", profile, err)
	})

	browserOut := &lines{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(browserOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		if t.Failed() && browserOut.Len() > 0 {
			t.Logf("chromium output (last lines):\n%s", tail(browserOut.String(), 40))
		}
	})

	t.Logf("step: start %s (headless, fresh profile)", execPath)
	timer := time.AfterFunc(startTimeout, cancelTab) // the first Run must not have a deadline of its own
	err = chromedp.Do(ctx)
	stopped := timer.Stop()
	require.Truef(t, stopped, "chromium did not start within %v", startTimeout)
	require.NoError(t, err, "start chromium")
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	require.NoError(t, err)
	t.Logf("ok: browser running: %s", version)

	t.Cleanup(func() {
		// Runs before the browser is stopped: keep a picture of a failure.
		if !t.Failed() {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err == nil && os.MkdirAll(artifactsDir, 0o755) == nil &&
			os.WriteFile(filepath.Join(artifactsDir, "failure.png"), png, 0o644) == nil {
			t.Logf("saved a screenshot of the failure to e2e/%s/failure.png", artifactsDir)
		}
	})
	return ctx
}

// tokens are the example's token cookies, found by their content.
type tokens struct {
	access, refresh *network.Cookie
}

// tokenCookies returns the access and refresh cookies the browser holds for
// host. Exactly one of each must be there.
func tokenCookies(t *testing.T, ctx context.Context, host string) tokens {
	t.Helper()
	var tk tokens
	var names []string
	for _, c := range hostCookies(t, ctx, host) {
		names = append(names, c.Name)
		typ, _, ok := decodeJWT(c.Value)
		if !ok {
			continue
		}
		switch typ {
		case accessTyp:
			require.Nilf(t, tk.access, "two access-token cookies: %q and %q", name(tk.access), c.Name)
			tk.access = c
		case refreshTyp:
			require.Nilf(t, tk.refresh, "two refresh-token cookies: %q and %q", name(tk.refresh), c.Name)
			tk.refresh = c
		}
	}
	require.NotNilf(t, tk.access, "no cookie holds an access token (%s); cookies: %v", accessTyp, names)
	require.NotNilf(t, tk.refresh, "no cookie holds a refresh token (%s); cookies: %v", refreshTyp, names)
	return tk
}

func name(c *network.Cookie) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// hostCookies returns every cookie of the browser for host, whatever its
// path.
func hostCookies(t *testing.T, ctx context.Context, host string) []*network.Cookie {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.CallBrowser(sctx, storage.GetCookies, storage.GetCookiesParams{})
	require.NoError(t, err, "Storage.getCookies")
	var out []*network.Cookie
	for _, c := range res.Cookies {
		if strings.TrimPrefix(c.Domain, ".") == host {
			out = append(out, c)
		}
	}
	return out
}

// cookieNames lists the names of host's cookies with a non-empty value.
func cookieNames(t *testing.T, ctx context.Context, host string) []string {
	t.Helper()
	names := []string{}
	for _, c := range hostCookies(t, ctx, host) {
		if c.Value != "" {
			names = append(names, c.Name)
		}
	}
	return names
}

// cookieParam turns a cookie read from the browser back into one to set.
func cookieParam(c *network.Cookie) *network.CookieParam {
	return &network.CookieParam{
		Name:     c.Name,
		Value:    c.Value,
		Domain:   c.Domain,
		Path:     c.Path,
		Secure:   c.Secure,
		HTTPOnly: c.HTTPOnly,
		SameSite: c.SameSite,
	}
}

// decodeJWT reads the "typ" header and the claims of a compact JWS without
// verifying it: the test only looks at what the browser holds.
func decodeJWT(v string) (typ string, claims map[string]any, ok bool) {
	v, _ = url.QueryUnescape(strings.Trim(v, `"`))
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", nil, false
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Typ == "" {
		return "", nil, false
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", nil, false
	}
	return hdr.Typ, claims, true
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func claims(t *testing.T, c *network.Cookie) map[string]any {
	t.Helper()
	_, cl, ok := decodeJWT(c.Value)
	require.Truef(t, ok, "cookie %q does not hold a JWT", c.Name)
	return cl
}

func claimInt(t *testing.T, c *network.Cookie, key string) int64 {
	t.Helper()
	f, ok := claims(t, c)[key].(float64)
	require.Truef(t, ok, "cookie %q: claim %q is not a number", c.Name, key)
	return int64(f)
}

func claimString(t *testing.T, c *network.Cookie, key string) string {
	t.Helper()
	s, ok := claims(t, c)[key].(string)
	require.Truef(t, ok, "cookie %q: claim %q is not a string", c.Name, key)
	return s
}

// generation is the "gen" claim of a refresh token: how many refresh tokens
// its session has had.
func generation(t *testing.T, c *network.Cookie) int64 { return claimInt(t, c, "gen") }

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func mustHost(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	return u.Hostname()
}

// lines collects output safely from other goroutines.
type lines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(s)
	l.buf.WriteByte('\n')
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
