package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// SignatureHeader carries the Ed25519 signature of a callback's body,
// base64: a receiver checks it with the key of GET .../keys.
const SignatureHeader = "X-TuxBoot-Signature"

// Objects of the callback machinery in the object store, shared by every
// API instance on the same NATS.
const (
	callbackKeyObject = "keys/callback-ed25519.pem"
	callbacksConsumer = "api-callbacks"
)

func callbackObject(id string) string { return "callbacks/" + id }

// checkCallback accepts an http or https URL with a host.
func checkCallback(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", s)
	}
	return nil
}

// callbackKey loads the signing key from the object store, making one
// the first time. Two instances starting together on an empty store
// could both make one; the last written wins and the other's signatures
// stop verifying once it restarts.
func callbackKey(ctx context.Context, objs jetstream.ObjectStore) (ed25519.PrivateKey, error) {
	data, err := objs.GetBytes(ctx, callbackKeyObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("callback key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("callback key: %w", err)
		}
		if _, err := objs.PutBytes(ctx, callbackKeyObject, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("store callback key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read callback key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("callback key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("callback key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("callback key: not Ed25519")
	}
	return priv, nil
}

// Keys is the answer of GET .../keys.
type Keys struct {
	Callback CallbackKey `json:"callback"`
}

// CallbackKey is the public key callbacks are signed with.
type CallbackKey struct {
	Algorithm string `json:"algorithm"`  // ed25519
	PublicKey string `json:"public_key"` // raw 32 bytes, base64
	PEM       string `json:"pem"`        // SubjectPublicKeyInfo
	Header    string `json:"header"`     // where the signature is
}

func (s *Server) keys(w http.ResponseWriter, r *http.Request) {
	priv, err := callbackKey(r.Context(), s.Queue.Objects)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	pub := priv.Public().(ed25519.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	writeJSON(w, http.StatusOK, Keys{Callback: CallbackKey{Algorithm: "ed25519",
		PublicKey: base64.StdEncoding.EncodeToString(pub),
		PEM:       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		Header:    SignatureHeader}})
}

// CallbackOptions tune RunCallbacks; zero values take the defaults.
type CallbackOptions struct {
	Attempts int           // tries per callback (default 5)
	Backoff  time.Duration // before the second try, doubling (default 2s)
	Timeout  time.Duration // per try (default 10s)
	// Concurrency bounds the callbacks delivered at once (default 16),
	// so a slow receiver holds up only its own callbacks.
	Concurrency int
	// AllowPrivate lets callbacks reach loopback, private, link-local and
	// other non-public addresses. Off, a client cannot aim the server's
	// callbacks at services only the server can reach (a metadata
	// endpoint, an admin port): the address is checked as it is dialled,
	// whatever the name resolved to, and redirects are not followed.
	AllowPrivate bool
}

// RunCallbacks posts each finished test's status object, signed, to the
// callback URL it was submitted with, until ctx ends. The callback only
// reports: whether it is delivered never changes the test's result. API
// instances share one durable consumer, so each finish is posted once
// (or again, should an instance die mid-delivery). Deliveries run
// concurrently, at most opts.Concurrency at once, each with its own
// retries; RunCallbacks returns once those in flight have stopped.
func (s *Server) RunCallbacks(ctx context.Context, opts CallbackOptions) error {
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if s.st == nil {
		s.st = &store.Store{KV: s.Queue.State}
	}
	priv, err := callbackKey(ctx, s.Queue.Objects)
	if err != nil {
		return err
	}
	cons, err := s.Queue.Boots.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       callbacksConsumer,
		FilterSubject: "tuxboot.boot.*.events",
		DeliverPolicy: jetstream.DeliverNewPolicy, // the first start does not call back for history
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
	})
	if err != nil {
		return fmt.Errorf("callbacks consumer: %w", err)
	}
	client := callbackClient(opts)
	// This loop takes a slot for each message; its delivery gives it back.
	// Only as many messages are fetched as there are free slots, so none
	// waits here while its ack wait runs out.
	slots := make(chan struct{}, opts.Concurrency)
	var deliveries sync.WaitGroup
	defer deliveries.Wait()
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		held := 1
		// Only this loop takes slots: the free ones stay free until taken below.
		batch, err := cons.Fetch(held+cap(slots)-len(slots), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				break
			}
			time.Sleep(time.Second)
			continue
		}
		for m := range batch.Messages() {
			if held == 0 {
				slots <- struct{}{}
			}
			held = 0
			deliveries.Add(1)
			go func() {
				defer func() { <-slots; deliveries.Done() }()
				s.callback(ctx, client, priv, opts, m)
			}()
		}
		if held == 1 {
			<-slots
		}
	}
	return nil
}

func (s *Server) callback(ctx context.Context, client *http.Client, priv ed25519.PrivateKey, opts CallbackOptions, m jetstream.Msg) {
	var ev boot.Event
	if json.Unmarshal(m.Data(), &ev) != nil || ev.Type != boot.EventState || ev.State != store.Finished {
		m.Ack()
		return
	}
	id := strings.TrimSuffix(strings.TrimPrefix(m.Subject(), "tuxboot.boot."), ".events")
	target, err := s.Queue.Objects.GetBytes(ctx, callbackObject(id))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		m.Ack()
		return
	}
	if err != nil {
		m.Nak() // NATS trouble: try again later
		return
	}
	rec, err := s.st.Get(ctx, id)
	if err != nil {
		m.Nak()
		return
	}
	body, _ := json.Marshal(s.view(ctx, rec, true))
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body))
	wait := opts.Backoff
	for try := 1; try <= opts.Attempts; try++ {
		err = postCallback(ctx, client, string(target), body, sig)
		if err == nil {
			s.Log.Info().Str("id", id).Int("try", try).Msg("callback delivered")
			break
		}
		s.Log.Warn().Err(err).Str("id", id).Int("try", try).Msg("callback failed")
		if try == opts.Attempts {
			break
		}
		m.InProgress()
		select {
		case <-ctx.Done():
			return // unacknowledged: another instance or the next start delivers it
		case <-time.After(wait):
		}
		wait *= 2
	}
	m.Ack()
}

func postCallback(ctx context.Context, client *http.Client, target string, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("callback %s: %w", target, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback %s: %s", target, resp.Status)
	}
	return nil
}

// callbackClient is the HTTP client callbacks are posted with.
func callbackClient(opts CallbackOptions) *http.Client {
	if opts.AllowPrivate {
		return &http.Client{Timeout: opts.Timeout}
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: publicOnly}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // a proxy would dial on the callback's behalf, unchecked
	transport.DialContext = dialer.DialContext
	return &http.Client{
		Timeout:   opts.Timeout,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is a failed delivery
		},
	}
}

// publicOnly refuses to dial an address that is not a public unicast one.
func publicOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("callback address %q: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("callback address %q: %w", address, err)
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip) {
		return fmt.Errorf("callback to %s refused: not a public address (serve and api allow it with --callback-private)", ip)
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598),
// which IsPrivate does not cover.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")
