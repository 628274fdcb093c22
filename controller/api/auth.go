package api

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Tokens maps a secret token to the one group it may act in.
type Tokens map[string]string

// LoadTokens reads a tokens file: one "TOKEN GROUP" a line; blank lines
// and lines starting with # are skipped.
func LoadTokens(path string) (Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	return ParseTokens(f, path)
}

// ParseTokens reads the tokens file format from r; name is for errors.
func ParseTokens(r io.Reader, name string) (Tokens, error) {
	toks := Tokens{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want TOKEN GROUP, got %d fields", name, n, len(fields))
		}
		if !nameRE.MatchString(fields[1]) {
			return nil, fmt.Errorf("%s:%d: %q is not a valid group name", name, n, fields[1])
		}
		if _, dup := toks[fields[0]]; dup {
			return nil, fmt.Errorf("%s:%d: the same token is given twice", name, n)
		}
		toks[fields[0]] = fields[1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%s: no tokens", name)
	}
	return toks, nil
}

// group returns the group a presented token belongs to. Every token is
// compared in constant time, so timing says nothing of which one is near.
func (t Tokens) group(presented string) (string, bool) {
	var found string
	for tok, g := range t {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(presented)) == 1 {
			found = g
		}
	}
	return found, found != ""
}

// bearer reads the token from "Authorization: Bearer T", or TuxSuite's
// bare "Authorization: T".
func bearer(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest)
	}
	return h
}

// authorized wraps a handler of a /v1/groups/{group}/... route. Without
// tokens every request passes (serve then listens on loopback only). A
// token of another group gets 404, as for a test that does not exist, so
// it learns nothing of the group's boots, not even that the group exists.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Tokens != nil {
			tok := bearer(r)
			if tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tuxboot"`)
				writeError(w, http.StatusUnauthorized, "missing token: send Authorization: Bearer TOKEN")
				return
			}
			g, ok := s.Tokens.group(tok)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tuxboot", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "unknown token")
				return
			}
			if g != r.PathValue("group") {
				writeError(w, http.StatusNotFound, "not found")
				return
			}
		}
		h(w, r)
	}
}
