package artefact

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// download is the result of one successful download or revalidation.
type download struct {
	notModified  bool
	sha256       string
	size         int64
	etag         string
	lastModified string
}

// transientError marks a failure that a retry may cure.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// errStalled cancels a transfer that made no progress for StallTimeout.
var errStalled = errors.New("transfer stalled")

// download fetches u into a blob, or confirms that cond (the cached
// index, if any) is still current. Transient failures are retried with
// exponential backoff and jitter.
func (f *Fetcher) download(ctx context.Context, c cache, name, lockName, u string, cond *index) (download, error) {
	attempts := f.retries() + 1
	delay := f.backoff()
	for attempt := 1; ; attempt++ {
		if attempt == 1 {
			f.logf("%s: downloading %s", name, u)
		} else {
			f.logf("%s: downloading %s (attempt %d of %d)", name, u, attempt, attempts)
		}
		start := time.Now()
		res, retryAfter, err := f.get(ctx, c, lockName, u, cond)
		if err == nil {
			if !res.notModified {
				f.logf("%s: downloaded %d bytes in %v", name, res.size, time.Since(start).Round(time.Millisecond))
			}
			return res, nil
		}
		if f.CacheURL != "" {
			err = fmt.Errorf("%w (through %s)", err, f.CacheURL)
		}
		var te transientError
		if ctx.Err() != nil || !errors.As(err, &te) {
			return download{}, err
		}
		if attempt >= attempts {
			if attempts > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempts)
			}
			return download{}, err
		}
		// Jitter spreads the retries of many runners hit by one outage.
		wait := max(delay/2+rand.N(delay), retryAfter)
		f.logf("%s: %v; retrying in %v", name, err, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return download{}, ctx.Err()
		case <-time.After(wait):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// get makes one attempt. It returns how long the server asked to wait
// (Retry-After) along with a transient error.
func (f *Fetcher) get(ctx context.Context, c cache, lockName, u string, cond *index) (download, time.Duration, error) {
	reqURL := u
	if f.CacheURL != "" {
		reqURL = f.CacheURL + url.QueryEscape(u)
	}
	// The watchdog cancels the request, headers or body, once nothing
	// arrives for StallTimeout.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := f.stallTimeout()
	watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return download{}, 0, requestFault{err}
	}
	req.Header.Set("User-Agent", "tuxboot-artefact/1")
	// The digest is of the bytes as the server stores them: no transparent
	// decompression by the HTTP client.
	req.Header.Set("Accept-Encoding", "identity")
	if cond != nil {
		if cond.ETag != "" {
			req.Header.Set("If-None-Match", cond.ETag)
		}
		if cond.LastModified != "" {
			req.Header.Set("If-Modified-Since", cond.LastModified)
		}
	}
	resp, err := f.httpClient().Do(req)
	if err != nil {
		return download{}, 0, classify(ctx, err)
	}
	defer resp.Body.Close()
	watchdog.Reset(stall)

	switch {
	case resp.StatusCode == http.StatusNotModified && cond != nil:
		return download{notModified: true}, 0, nil
	case resp.StatusCode != http.StatusOK:
		he := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
		if he.transient() {
			return download{}, retryAfter(resp.Header.Get("Retry-After")), transientError{he}
		}
		return download{}, 0, he
	}
	limit := f.maxSize()
	if resp.ContentLength > limit {
		return download{}, 0, tooLarge(fmt.Sprintf("Content-Length %d", resp.ContentLength), limit)
	}

	t, err := c.createTemp(lockName)
	if err != nil {
		return download{}, 0, err
	}
	h := sha256.New()
	body := &progressReader{r: resp.Body, onRead: func() { watchdog.Reset(stall) }}
	n, err := copyLimit(ctx, io.MultiWriter(t, h), body, limit)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = transientError{fmt.Errorf("body truncated: %d of %d bytes", n, resp.ContentLength)}
	}
	if err != nil {
		t.Close()
		os.Remove(t.Name())
		switch {
		case errors.Is(err, errLimit):
			return download{}, 0, tooLarge("body", limit)
		case body.err != nil && errors.Is(err, body.err), errors.Is(context.Cause(ctx), errStalled):
			// The network failed mid-body (reset, EOF before the end,
			// silence).
			return download{}, 0, classify(ctx, fmt.Errorf("reading body after %d bytes: %w", n, err))
		}
		return download{}, 0, err // the cache disk failed, or ctx ended
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := commit(t, c.blob(sum)); err != nil {
		return download{}, 0, err
	}
	return download{sha256: sum, size: n, etag: resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified")}, 0, nil
}

// progressReader reports each successful read (to feed the stall
// watchdog) and remembers its source's error, to tell network failures
// from disk ones.
type progressReader struct {
	r      io.Reader
	onRead func()
	err    error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.onRead()
	}
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}

// classify decides whether a failed HTTP exchange is worth a retry.
func classify(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		return transientError{fmt.Errorf("%w: nothing received for a while", errStalled)}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	// A certificate or a host name will not fix itself.
	var (
		unknownCA  x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		hostname   x509.HostnameError
		verifyErr  *tls.CertificateVerificationError
		dnsErr     *net.DNSError
		recordErr  tls.RecordHeaderError
		permanent  = errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verifyErr) || errors.As(err, &recordErr)
		noSuchHost = errors.As(err, &dnsErr) && dnsErr.IsNotFound
	)
	if permanent || noSuchHost {
		return err
	}
	return transientError{err}
}

// retryAfter reads a Retry-After header given in seconds, capped at a
// minute; anything else means no preference.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(v)
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, time.Minute)
}

// httpClient returns Client, or a default client made once.
func (f *Fetcher) httpClient() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.client == nil {
		f.client = newDefaultClient()
	}
	return f.client
}

// newDefaultClient bounds every phase of a request except the body
// transfer, which may take minutes for a rootfs and is watched by the
// stall timeout instead.
func newDefaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   4,
			DisableCompression:    true,
		},
	}
}
